package auth

// Result is the outcome of one authentication method, written as the word
// RFC 8601 §2.7 registers for it, so that it prints straight into an
// Authentication-Results header.
type Result string

// Result words. Not every method uses every word: SPF uses all but Policy,
// DKIM uses None, Pass, Fail, Policy, Neutral, TempError and PermError, and
// DMARC (RFC 7489 §11.2) uses None, Pass, Fail, TempError and PermError.
const (
	// None: the method had nothing to check (no SPF record, no DKIM
	// signature, no DMARC record).
	None Result = "none"
	// Pass: the check succeeded.
	Pass Result = "pass"
	// Fail: the check failed; the sender is not authorized or the
	// signature does not verify.
	Fail Result = "fail"
	// SoftFail: SPF says the host is probably not authorized (RFC 7208
	// §2.6.5).
	SoftFail Result = "softfail"
	// Neutral: SPF makes no assertion about the host (RFC 7208 §2.6.2).
	Neutral Result = "neutral"
	// Policy: the check succeeded but the result is not acceptable to
	// local policy (RFC 8601 §2.7.1).
	Policy Result = "policy"
	// TempError: a temporary failure, usually of DNS, kept the check from
	// finishing; repeating it later may give a definite answer.
	TempError Result = "temperror"
	// PermError: a permanent error, such as a malformed record or a
	// missing key, kept the check from finishing.
	PermError Result = "permerror"
)

// Verdict is what a receiver does with a message once DMARC has been
// evaluated.
type Verdict string

// Verdicts. When a message gets several (a From header with several
// domains), the strictest wins, in this order: Reject, Defer, Quarantine,
// Deliver.
const (
	// Deliver: put the message in the inbox (DMARC pass, no policy, or
	// p=none).
	Deliver Verdict = "deliver"
	// Quarantine: deliver the message to the Junk folder (RFC 7489 §6.3
	// p=quarantine, or a From header that DMARC cannot judge cleanly with
	// Checker.QuarantineUnusableFrom).
	Quarantine Verdict = "quarantine"
	// Reject: refuse the message with 550 5.7.1 (RFC 7489 §6.3 p=reject,
	// or a From header that DMARC cannot judge cleanly, RFC 7489 §6.6.1).
	Reject Verdict = "reject"
	// Defer: a DNS temporary failure left the verdict open; answer 451 so
	// that the sender tries again later.
	Defer Verdict = "defer"
)

// rank orders verdicts for combining them: the larger, the stricter.
func (v Verdict) rank() int {
	switch v {
	case Deliver:
		return 0
	case Quarantine:
		return 1
	case Defer:
		return 2
	case Reject:
		return 3
	}
	return 0
}
