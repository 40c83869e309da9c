package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "write the golden files of testdata anew")

// TestPayloadGolden sends the test message in the JSON Format, with room
// for the small attachment's content but not the large one's, and compares
// the body with testdata/payload.golden.json (indented there for reading).
func TestPayloadGolden(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	e := newEndpoint(t, rc.URL+"/hook")
	e.MaxAttachmentBytes = 1024
	if err := e.Run(t.Context(), newMessage(testRaw), testAttempt()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := rc.got()[0]
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got.body, "", "  "); err != nil {
		t.Fatalf("the body is not JSON: %v\n%s", err, got.body)
	}
	indented.WriteByte('\n')
	golden := filepath.Join("testdata", "payload.golden.json")
	if *update {
		if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("payload differs from %s (go test -run TestPayloadGolden -update writes it):\n%s", golden, indented.Bytes())
	}

	// What a receiver in Go decodes.
	var p Payload
	if err := json.Unmarshal(got.body, &p); err != nil {
		t.Fatal(err)
	}
	atts := p.Data.Message.Attachments
	if len(atts) != 2 || string(atts[0].Content) != "quarter,total\r\nQ1,10" || atts[0].Omitted ||
		atts[1].Content != nil || !atts[1].Omitted || atts[1].Size != int64(len(largeContent)) {
		t.Errorf("attachments: %+v", atts)
	}
	if p.Data.Auth == nil || p.Data.Auth.Verdict() != "deliver" {
		t.Errorf("auth: %+v", p.Data.Auth)
	}
}

// TestAttachmentBudget: the contents kept are those that fit, in the order
// of the message, in what is left of MaxAttachmentBytes; zero is the
// default of 10 MiB, negative no limit.
func TestAttachmentBudget(t *testing.T) {
	mib := int64(1 << 20)
	for _, tc := range []struct {
		name  string
		limit int64
		sizes []int64
		kept  []bool
	}{
		{"all fit exactly", 30, []int64{10, 20}, []bool{true, true}},
		{"second over by one", 30, []int64{10, 21}, []bool{true, false}},
		{"a smaller one after an omitted one", 30, []int64{10, 25, 20}, []bool{true, false, true}},
		{"first alone too large", 30, []int64{31, 5}, []bool{false, true}},
		{"empty attachment with no budget left", 10, []int64{10, 0}, []bool{true, true}},
		{"no limit", -1, []int64{3 * mib, 3 * mib}, []bool{true, true}},
		{"default: 10 MiB in all", 0, []int64{6 * mib, 5 * mib, 4 * mib}, []bool{true, false, true}},
		{"default: exactly 10 MiB", 0, []int64{10 * mib}, []bool{true}},
		{"default: one byte over", 0, []int64{10*mib + 1}, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw strings.Builder
			raw.WriteString("From: a@sender.example\r\nSubject: sizes\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
			for i, n := range tc.sizes {
				fmt.Fprintf(&raw, "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=%d.bin\r\n\r\n", i)
				raw.Write(bytes.Repeat([]byte{'x'}, int(n)))
				raw.WriteString("\r\n")
			}
			raw.WriteString("--b--\r\n")
			m := newMessage(raw.String())
			r, _, err := (&Endpoint{MaxAttachmentBytes: tc.limit}).body(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			var p Payload
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			var kept []bool
			for i, a := range p.Data.Message.Attachments {
				kept = append(kept, !a.Omitted)
				if a.Size != tc.sizes[i] {
					t.Errorf("attachment %d: size %d, want %d", i, a.Size, tc.sizes[i])
				}
				if !a.Omitted && int64(len(a.Content)) != a.Size {
					t.Errorf("attachment %d: %d bytes of content, size %d", i, len(a.Content), a.Size)
				}
				if a.Omitted && a.Content != nil {
					t.Errorf("attachment %d: omitted, yet has content", i)
				}
			}
			if !slices.Equal(kept, tc.kept) {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
		})
	}
}

// TestRFC822Format: the body is the message byte for byte, and the
// envelope is in the Envelope-* headers.
func TestRFC822Format(t *testing.T) {
	rc := newReceiver(t, status(http.StatusNoContent))
	e := newEndpoint(t, rc.URL)
	e.Format = RFC822
	if err := e.Run(t.Context(), newMessage(testRaw), testAttempt()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := rc.got()[0]
	if !bytes.Equal(got.body, []byte(testRaw)) {
		t.Errorf("body differs from the message:\n%q", got.body)
	}
	want := map[string][]string{
		"Content-Type":           {"message/rfc822"},
		HeaderEnvelopeID:         {"m1"},
		HeaderEnvelopeSMTPID:     {"smtp-7"},
		HeaderEnvelopeReceived:   {"2030-06-01T12:00:00Z"},
		HeaderEnvelopeMailFrom:   {"<bounce@sender.example>"},
		HeaderEnvelopeRcptTo:     {"<bob@example.com>", "<carol@example.com>"},
		HeaderEnvelopeAllRcptTo:  {"<bob@example.com>", "<carol@example.com>", "<info@example.com>"},
		HeaderEnvelopeClientIP:   {"192.0.2.1"},
		HeaderEnvelopeHelo:       {"mx.sender.example"},
		HeaderEnvelopeTLS:        {"TLS 1.3 TLS_AES_128_GCM_SHA256"},
		HeaderEnvelopeSMTPUTF8:   {"false"},
		HeaderEnvelopeQuarantine: {"false"},
		HeaderEnvelopeVerdict:    {"deliver"},
		HeaderEnvelopeAuth: {`{"spf":{"result":"pass","domain":"sender.example","client_ip":"192.0.2.1","helo":"mx.sender.example","mail_from":"bounce@sender.example"},` +
			`"dkim":[{"result":"pass","domain":"sender.example","identifier":"@sender.example"}],` +
			`"dmarc":{"result":"pass","domain":"sender.example","policy":"reject","sampled":true,"spf_aligned":true,"dkim_aligned":true,"verdict":"deliver"},"verdict":"deliver","trusted":false}`},
	}
	for name, values := range want {
		if got := got.header.Values(name); !slices.Equal(got, values) {
			t.Errorf("%s: %q, want %q", name, got, values)
		}
	}
	if err := Verify(got.header, got.body, testSecret); err == nil {
		t.Errorf("Verify passed with the machine's clock, 2030 being far off") // the Endpoint's Now is testNow
	}
	v := Verifier{Secrets: []string{testSecret}, Now: func() time.Time { return testNow }}
	if err := v.Verify(got.header, got.body); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// The null sender, no TLS, no checks.
	m := newMessage(testRaw)
	m.Envelope.From, m.Envelope.TLS, m.Envelope.Auth = "", nil, nil
	if err := e.Run(t.Context(), m, testAttempt()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h := rc.got()[1].header
	if got := h.Get(HeaderEnvelopeMailFrom); got != "<>" {
		t.Errorf("%s %q, want <>", HeaderEnvelopeMailFrom, got)
	}
	for _, name := range []string{HeaderEnvelopeTLS, HeaderEnvelopeVerdict, HeaderEnvelopeAuth} {
		if _, ok := h[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("%s present: %q", name, h.Get(name))
		}
	}
}

// TestPayloadBareMessage: a message without MIME, From or Date gives
// empty lists and nulls, never a missing field.
func TestPayloadBareMessage(t *testing.T) {
	m := newMessage("Subject: hi\r\n\r\nbody\r\n")
	m.Envelope.Rcpt, m.Envelope.TLS, m.Envelope.Auth = nil, nil, nil
	body, err := jsonBody(m, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"from":null`, `"date":null`, `"to":[]`, `"cc":[]`, `"reply_to":[]`, `"in_reply_to":[]`,
		`"references":[]`, `"attachments":[]`, `"problems":[]`, `"rcpt_to":[]`, `"all_rcpt_to":[]`, `"tls":null`, `"auth":null`, `"text":"body\r\n"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("payload lacks %s:\n%s", want, body)
		}
	}
}

// TestPayloadProblems: what package message could not read is listed.
func TestPayloadProblems(t *testing.T) {
	m := newMessage("Subject: hi\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nbody\r\n")
	body, err := jsonBody(m, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Data.Message.Problems) != 1 || !strings.Contains(p.Data.Message.Problems[0], "charset") {
		t.Errorf("problems: %q", p.Data.Message.Problems)
	}
}
