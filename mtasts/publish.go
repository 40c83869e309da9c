package mtasts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// MarshalText writes p as a policy file (RFC 8461 §3.2): "version: STSv1",
// the mode, one mx line per pattern and max_age in whole seconds, each line
// ending in CRLF. It fails, saying why, when the mode is not one of the
// RFC's, a pattern is neither a host name nor "*." and a host name, or
// max_age is not between one second and MaxMaxAge, or a mode other than
// none has no mx pattern. Parse reads the text
// back to p, without its ID.
func (p *Policy) MarshalText() ([]byte, error) {
	switch p.Mode {
	case Enforce, Testing, None:
	default:
		return nil, fmt.Errorf("mtasts: policy mode %q is not enforce, testing or none (RFC 8461 §3.2)", p.Mode)
	}
	if p.MaxAge < time.Second || p.MaxAge > MaxMaxAge {
		return nil, fmt.Errorf("mtasts: policy max_age %v is not between 1s and %v (RFC 8461 §3.2)", p.MaxAge, MaxMaxAge)
	}
	if p.Mode != None && len(p.MX) == 0 {
		return nil, fmt.Errorf("mtasts: policy in mode %s has no mx pattern; it needs at least one (RFC 8461 §3.2)", p.Mode)
	}
	var b bytes.Buffer
	b.WriteString("version: STSv1\r\nmode: " + string(p.Mode) + "\r\n")
	for _, mx := range p.MX {
		pattern, ok := mxPattern(mx)
		if !ok {
			return nil, fmt.Errorf("mtasts: policy mx %q is not a host name or \"*.\" and a host name (RFC 8461 §3.2)", mx)
		}
		b.WriteString("mx: " + pattern + "\r\n")
	}
	b.WriteString("max_age: " + strconv.FormatInt(int64(p.MaxAge/time.Second), 10) + "\r\n")
	if b.Len() > MaxPolicySize || len(p.MX)+3 > MaxPolicyLines {
		return nil, fmt.Errorf("mtasts: policy with %d mx patterns is over the limits senders accept (%d bytes, %d lines)", len(p.MX), MaxPolicySize, MaxPolicyLines)
	}
	return b.Bytes(), nil
}

// RecordID returns the id for the "_mta-sts" TXT record of the policy
// file text: the first 32 hex digits of its SHA-256, so that the id
// changes exactly when the policy does (RFC 8461 §3.1 allows 1 to 32
// letters and digits).
func RecordID(policyText []byte) string {
	sum := sha256.Sum256(policyText)
	return hex.EncodeToString(sum[:16])
}

// RecordText returns the text of the "_mta-sts" TXT record that announces
// p: "v=STSv1; id=" and the RecordID of its policy file.
func RecordText(p *Policy) (string, error) {
	text, err := p.MarshalText()
	if err != nil {
		return "", err
	}
	return "v=STSv1; id=" + RecordID(text) + ";", nil
}

// Handler returns an http.Handler that serves p as the policy file at
// /.well-known/mta-sts.txt (RFC 8461 §3.3) with Content-Type text/plain, to
// GET and HEAD; other paths get 404 and other methods 405. Mount it on the
// HTTPS server for mta-sts.<domain>, whose certificate must be valid for
// that name. It fails when p does not marshal.
func Handler(p *Policy) (http.Handler, error) {
	text, err := p.MarshalText()
	if err != nil {
		return nil, err
	}
	return policyHandler(text), nil
}

// policyHandler serves a marshalled policy file.
type policyHandler []byte

func (h policyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(h)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(h)
}
