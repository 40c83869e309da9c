package postfixtest

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/ownmx/ownmx/smtpd/smtptest"
)

// ehloKeywords returns the extensions the instance at addr names in its
// reply to EHLO.
func ehloKeywords(t *testing.T, addr string) []string {
	t.Helper()
	c := smtptest.Dial(t, addr)
	if r, err := c.ReadReply(); err != nil || r.Code != 220 {
		t.Fatalf("greeting %v, %v", r, err)
	}
	r := c.Cmd("EHLO client.test")
	if r.Code != 250 {
		t.Fatalf("EHLO: %v", r)
	}
	c.Cmd("QUIT")
	var kws []string
	for _, l := range r.Lines[1:] {
		kws = append(kws, strings.Fields(l)[0])
	}
	return kws
}

// TestStartTLS shows STARTTLS (RFC 3207) offered with the given
// certificate and used: a client trusting only that certificate completes
// the handshake, one trusting another does not, and the Received header of
// the message sent over TLS says so. Without CertFile nothing is offered.
func TestStartTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, client := testCert(t, "mx.example.com")
	_, _, stranger := testCert(t, "mx.example.com")
	withTLS := Start(t, Options{Domains: []string{"example.com"}, CertFile: certFile, KeyFile: keyFile})
	plain := Start(t, Options{Domains: []string{"example.com"}})

	if kws := ehloKeywords(t, withTLS.Addr); !slices.Contains(kws, "STARTTLS") {
		t.Errorf("with CertFile, EHLO offers %q, want STARTTLS among them", kws)
	}
	if kws := ehloKeywords(t, plain.Addr); slices.Contains(kws, "STARTTLS") {
		t.Errorf("without CertFile, EHLO offers %q, want no STARTTLS", kws)
	}

	if err := smtptest.Send(withTLS.Addr, "s@example.org", []string{"tls@example.com"}, "Subject: tls\r\n\r\nover TLS\r\n", smtptest.StartTLS(client)); err != nil {
		t.Fatalf("STARTTLS with a client trusting the given certificate: %v", err)
	}
	trace, _ := splitTrace(t, withTLS.Wait(t, "tls@example.com", 1)[0])
	if !strings.Contains(trace, "(using TLSv1.3 with cipher") || !strings.Contains(trace, "with ESMTPS id") {
		t.Errorf("Received header of a message sent over TLS does not say so:\n%s", trace)
	}

	err := smtptest.Send(withTLS.Addr, "s@example.org", []string{"stranger@example.com"}, "Subject: x\r\n\r\nx\r\n", smtptest.StartTLS(stranger))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("STARTTLS with a client trusting another certificate: %v, want a certificate error", err)
	}

	if err := smtptest.Send(withTLS.Addr, "s@example.org", []string{"clear@example.com"}, "Subject: clear\r\n\r\nin the clear\r\n"); err != nil {
		t.Fatal(err)
	}
	trace, _ = splitTrace(t, withTLS.Wait(t, "clear@example.com", 1)[0])
	if strings.Contains(trace, "TLS") || !strings.Contains(trace, "with ESMTP id") {
		t.Errorf("Received header of a message sent in the clear:\n%s", trace)
	}
	if err := smtptest.Send(plain.Addr, "s@example.org", []string{"x@example.com"}, "Subject: x\r\n\r\nx\r\n", smtptest.StartTLS(&tls.Config{})); err == nil {
		t.Error("STARTTLS to the instance without CertFile succeeded, want a failure")
	}
}
