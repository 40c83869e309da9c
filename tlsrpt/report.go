package tlsrpt

import "time"

// Report is an aggregate TLS-RPT report (RFC 8460 §4): what one sending
// organization saw, over a period, of its TLS sessions to a domain's MX
// hosts. Its JSON form is the RFC's, so that json.Marshal of a Report
// gives a report Parse reads back to the same value.
type Report struct {
	// OrganizationName names the organization that sent the report.
	OrganizationName string `json:"organization-name"`
	// DateRange is the period the report covers, in UTC.
	DateRange DateRange `json:"date-range"`
	// ContactInfo is where to ask the sender about the report: a mail
	// address or a URI.
	ContactInfo string `json:"contact-info"`
	// ReportID identifies the report at its sender.
	ReportID string `json:"report-id"`
	// Policies are the results, one per policy the sender applied.
	Policies []PolicyResult `json:"policies"`
}

// DateRange is the period a report covers (RFC 8460 §4.4).
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyType is the kind of policy a sender applied (RFC 8460 §4.4): its
// values are the RFC's words.
type PolicyType string

// The policy types of RFC 8460 §4.4.
const (
	// TLSA: a DANE TLSA record (RFC 6698).
	TLSA PolicyType = "tlsa"
	// STS: an MTA-STS policy (RFC 8461).
	STS PolicyType = "sts"
	// NoPolicyFound: the domain had neither, and mail went with
	// opportunistic TLS or none.
	NoPolicyFound PolicyType = "no-policy-found"
)

// ResultType is why a session failed (RFC 8460 §4.3): its values are the
// RFC's words. The IANA registry may add more, so Parse accepts any
// non-empty value.
type ResultType string

// The result types of RFC 8460 §4.3.
const (
	StartTLSNotSupported    ResultType = "starttls-not-supported"
	CertificateHostMismatch ResultType = "certificate-host-mismatch"
	CertificateExpired      ResultType = "certificate-expired"
	CertificateNotTrusted   ResultType = "certificate-not-trusted"
	ValidationFailure       ResultType = "validation-failure"
	TLSAInvalid             ResultType = "tlsa-invalid"
	DNSSECInvalid           ResultType = "dnssec-invalid"
	DANERequired            ResultType = "dane-required"
	STSPolicyFetchError     ResultType = "sts-policy-fetch-error"
	STSPolicyInvalid        ResultType = "sts-policy-invalid"
	STSWebPKIInvalid        ResultType = "sts-webpki-invalid"
)

// PolicyResult is what a sender saw under one policy (RFC 8460 §4.4).
type PolicyResult struct {
	Policy         Policy          `json:"policy"`
	Summary        SessionCounts   `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Policy is the policy a sender applied (RFC 8460 §4.4).
type Policy struct {
	// Type is the kind of policy.
	Type PolicyType `json:"policy-type"`
	// String is the policy as the sender read it, a line or record per
	// element; none for no-policy-found.
	String []string `json:"policy-string,omitempty"`
	// Domain is the domain the policy is for, in lower case without a
	// final dot.
	Domain string `json:"policy-domain"`
	// MXHost are the MX host patterns of the policy. RFC 8460 §4.4 has a
	// string; senders, Google among them, send an array, and Parse
	// reads both.
	MXHost []string `json:"mx-host,omitempty"`
}

// SessionCounts are the numbers of sessions under a policy.
type SessionCounts struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// FailureDetail is one kind of failure a sender saw under a policy
// (RFC 8460 §4.4): the result type, the sessions that failed so, and what
// the sender knows of them.
type FailureDetail struct {
	ResultType          ResultType `json:"result-type"`
	SendingMTAIP        string     `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo     string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         string     `json:"receiving-ip,omitempty"`
	FailedSessionCount  int64      `json:"failed-session-count"`
	// AdditionalInformation is a URI where the sender says more.
	AdditionalInformation string `json:"additional-information,omitempty"`
	// FailureReasonCode is the sender's own code for the failure, such
	// as an OpenSSL error name.
	FailureReasonCode string `json:"failure-reason-code,omitempty"`
}
