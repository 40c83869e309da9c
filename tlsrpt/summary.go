package tlsrpt

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Summary adds up reports per policy domain and type: what a domain's
// owner reads to learn whether senders reach its MX hosts over TLS.
// The zero value is an empty summary; Add reports to it.
type Summary struct {
	// Reports is how many reports were added.
	Reports int
	// Start and End span the periods of the reports added.
	Start, End time.Time
	// Policies are the totals, one per policy domain and type, in order
	// of domain, then type.
	Policies []PolicySummary
}

// PolicySummary is the total, over the reports added to a Summary, for
// one policy domain and type.
type PolicySummary struct {
	Domain string
	Type   PolicyType
	// Successful and Failed count sessions; a sum too large for an
	// int64 stays at math.MaxInt64.
	Successful, Failed int64
	// Failures counts failed sessions by result type, from the reports'
	// failure details.
	Failures map[ResultType]int64
	// SendingIPs are the sending MTAs' addresses of the failures, and
	// ReceivingMX the MX hosts that they failed to, each sorted without
	// repeats. ReceivingMX is in lower case without a final dot.
	SendingIPs  []string
	ReceivingMX []string
	// Organizations are the senders that reported on the policy, sorted.
	Organizations []string
}

// Summarize returns the Summary of reports.
func Summarize(reports ...*Report) *Summary {
	var s Summary
	for _, r := range reports {
		s.Add(r)
	}
	return &s
}

// Add adds r to s.
func (s *Summary) Add(r *Report) {
	s.Reports++
	if s.Start.IsZero() || r.DateRange.Start.Before(s.Start) {
		s.Start = r.DateRange.Start
	}
	if r.DateRange.End.After(s.End) {
		s.End = r.DateRange.End
	}
	for _, pr := range r.Policies {
		ps := s.policy(pr.Policy.Domain, pr.Policy.Type)
		ps.Successful = addCount(ps.Successful, pr.Summary.Successful)
		ps.Failed = addCount(ps.Failed, pr.Summary.Failed)
		ps.Organizations = insertSorted(ps.Organizations, r.OrganizationName)
		for _, fd := range pr.FailureDetails {
			if ps.Failures == nil {
				ps.Failures = map[ResultType]int64{}
			}
			ps.Failures[fd.ResultType] = addCount(ps.Failures[fd.ResultType], fd.FailedSessionCount)
			if ip, err := netip.ParseAddr(fd.SendingMTAIP); err == nil {
				ps.SendingIPs = insertSorted(ps.SendingIPs, ip.Unmap().String())
			}
			if mx := strings.TrimSuffix(strings.ToLower(fd.ReceivingMXHostname), "."); mx != "" {
				ps.ReceivingMX = insertSorted(ps.ReceivingMX, mx)
			}
		}
	}
}

// policy returns the PolicySummary of domain and typ, added in order if
// there is none yet.
func (s *Summary) policy(domain string, typ PolicyType) *PolicySummary {
	i, found := slices.BinarySearchFunc(s.Policies, PolicySummary{Domain: domain, Type: typ}, comparePolicy)
	if !found {
		s.Policies = slices.Insert(s.Policies, i, PolicySummary{Domain: domain, Type: typ})
	}
	return &s.Policies[i]
}

func comparePolicy(a, b PolicySummary) int {
	return cmp.Or(strings.Compare(a.Domain, b.Domain), strings.Compare(string(a.Type), string(b.Type)))
}

// addCount returns a+b for counts from 0, at most math.MaxInt64.
func addCount(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// insertSorted adds v to the sorted list, unless it is there.
func insertSorted(list []string, v string) []string {
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

// String returns the summary as a user reads it: a line for the period and
// the number of reports, then one line per policy (see
// PolicySummary.String).
func (s *Summary) String() string {
	var b strings.Builder
	if s.Reports == 0 {
		return "no reports\n"
	}
	fmt.Fprintf(&b, "%s from %s to %s\n", plural(s.Reports, "report"),
		s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339))
	for _, p := range s.Policies {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String returns the policy's totals in one line, such as
//
//	company-y.example sts: 5326 sessions ok, 303 failed (certificate-expired 100, starttls-not-supported 200, validation-failure 3) from 198.51.100.62, 2001:db8:abcd:12::1 to mx1.mail.company-y.example; reported by Company-X
//
// with the result types by count, the largest first.
func (p *PolicySummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s ok, %d failed", printable(p.Domain), printable(string(p.Type)), p.Successful, noun(p.Successful, "session"), p.Failed)
	if len(p.Failures) > 0 {
		types := make([]ResultType, 0, len(p.Failures))
		for t := range p.Failures {
			types = append(types, t)
		}
		slices.SortFunc(types, func(a, b ResultType) int {
			return cmp.Or(cmp.Compare(p.Failures[b], p.Failures[a]), strings.Compare(string(a), string(b)))
		})
		parts := make([]string, len(types))
		for i, t := range types {
			parts[i] = fmt.Sprintf("%s %d", printable(string(t)), p.Failures[t])
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if len(p.SendingIPs) > 0 {
		fmt.Fprintf(&b, " from %s", strings.Join(p.SendingIPs, ", "))
	}
	if len(p.ReceivingMX) > 0 {
		fmt.Fprintf(&b, " to %s", printable(strings.Join(p.ReceivingMX, ", ")))
	}
	if len(p.Organizations) > 0 {
		fmt.Fprintf(&b, "; reported by %s", printable(strings.Join(p.Organizations, ", ")))
	}
	return b.String()
}

func noun(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func plural(n int, word string) string {
	return fmt.Sprintf("%d %s", n, noun(int64(n), word))
}

// printable returns s with control characters, such as a line break or
// a terminal's escape, replaced by U+FFFD: reports come from anyone, and
// the summary is read on a terminal, a line per policy.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}
