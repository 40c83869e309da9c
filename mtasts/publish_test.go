package mtasts_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ownmx/ownmx/mtasts"
)

func TestMarshalTextRoundTrip(t *testing.T) {
	p := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx1.example.com", "*.Example.NET."}, MaxAge: 14 * 24 * time.Hour}
	text, err := p.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	want := "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 1209600\r\n"
	if string(text) != want {
		t.Fatalf("MarshalText = %q, want %q", text, want)
	}
	got, err := mtasts.Parse(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != p.Mode || got.MaxAge != p.MaxAge || !slices.Equal(got.MX, []string{"mx1.example.com", "*.example.net"}) {
		t.Fatalf("Parse(MarshalText) = %+v", got)
	}
}

func TestMarshalTextRefuses(t *testing.T) {
	for name, p := range map[string]*mtasts.Policy{
		"empty mode":     {Mode: "", MaxAge: time.Hour, MX: []string{"mx.example.com"}},
		"unknown mode":   {Mode: "Enforce", MaxAge: time.Hour, MX: []string{"mx.example.com"}},
		"zero max_age":   {Mode: mtasts.Enforce, MaxAge: 0, MX: []string{"mx.example.com"}},
		"sub-second":     {Mode: mtasts.Enforce, MaxAge: time.Millisecond, MX: []string{"mx.example.com"}},
		"over MaxMaxAge": {Mode: mtasts.Enforce, MaxAge: mtasts.MaxMaxAge + time.Second, MX: []string{"mx.example.com"}},
		"negative":       {Mode: mtasts.Enforce, MaxAge: -time.Hour, MX: []string{"mx.example.com"}},
		"ip address mx":  {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{"192.0.2.1:25"}},
		"space in mx":    {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{"mx example.com"}},
		"crlf in mx":     {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{"mx.example.com\r\nmode: none"}},
		"inner wildcard": {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{"mx.*.example.com"}},
		"bare wildcard":  {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{"*"}},
		"empty mx":       {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{""}},
		"enforce no mx":  {Mode: mtasts.Enforce, MaxAge: time.Hour},
		"testing no mx":  {Mode: mtasts.Testing, MaxAge: time.Hour},
		"unicode mx":     {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: []string{"mx.bücher.example"}},
		"too many mx":    {Mode: mtasts.Enforce, MaxAge: time.Hour, MX: slices.Repeat([]string{"mx.example.com"}, mtasts.MaxPolicyLines)},
	} {
		if text, err := p.MarshalText(); err == nil {
			t.Errorf("%s: MarshalText = %q, want an error", name, text)
		}
		if _, err := mtasts.Handler(p); err == nil {
			t.Errorf("%s: Handler succeeded, want an error", name)
		}
	}
}

func TestRecordIDChangesWithPolicy(t *testing.T) {
	a := &mtasts.Policy{Mode: mtasts.Testing, MX: []string{"mx.example.com"}, MaxAge: 7 * 24 * time.Hour}
	ra, err := mtasts.RecordText(a)
	if err != nil {
		t.Fatal(err)
	}
	id, err := mtasts.ParseRecord(ra)
	if err != nil || len(id) != 32 {
		t.Fatalf("ParseRecord(%q) = %q, %v; want a 32-character id", ra, id, err)
	}
	same, _ := mtasts.RecordText(&mtasts.Policy{Mode: mtasts.Testing, MX: []string{"MX.example.com."}, MaxAge: 7 * 24 * time.Hour})
	if same != ra {
		t.Errorf("the same policy gives records %q and %q", ra, same)
	}
	for _, b := range []*mtasts.Policy{
		{Mode: mtasts.Enforce, MX: a.MX, MaxAge: a.MaxAge},
		{Mode: a.Mode, MX: []string{"mx2.example.com"}, MaxAge: a.MaxAge},
		{Mode: a.Mode, MX: a.MX, MaxAge: a.MaxAge + time.Second},
	} {
		rb, err := mtasts.RecordText(b)
		if err != nil {
			t.Fatal(err)
		}
		if rb == ra {
			t.Errorf("policies %+v and %+v share the record %q", a, b, ra)
		}
	}
}

func TestHandlerServesFetcher(t *testing.T) {
	p := &mtasts.Policy{Mode: mtasts.Enforce, MX: []string{"mx.dest.test", "*.backup.test"}, MaxAge: 86400 * time.Second}
	h, err := mtasts.Handler(p)
	if err != nil {
		t.Fatal(err)
	}
	record, err := mtasts.RecordText(p)
	if err != nil {
		t.Fatal(err)
	}
	ca := newCA(t)
	w := newWorld(t, zone(`_mta-sts.dest IN TXT "`+record+`"`), "dest.test")
	w.f.Client = startHTTPS(t, ca, ca.serverCert(t, "mta-sts.dest.test"), h)
	got := w.policy(t, "dest.test")
	wantMX(t, got, "mx.dest.test", "*.backup.test")
	if got.Mode != mtasts.Enforce || got.MaxAge != p.MaxAge {
		t.Fatalf("fetched %+v, want %+v", got, p)
	}
}

func TestHandlerRequests(t *testing.T) {
	h, err := mtasts.Handler(&mtasts.Policy{Mode: mtasts.Testing, MX: []string{"mx.example.com"}, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	body := "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 3600\r\n"
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/.well-known/mta-sts.txt", 200, body},
		{"HEAD", "/.well-known/mta-sts.txt", 200, ""},
		{"POST", "/.well-known/mta-sts.txt", 405, ""},
		{"PUT", "/.well-known/mta-sts.txt", 405, ""},
		{"DELETE", "/.well-known/mta-sts.txt", 405, ""},
		{"GET", "/", 404, ""},
		{"GET", "/.well-known/mta-sts.txt/", 404, ""},
		{"GET", "/.well-known/MTA-STS.txt", 404, ""},
		{"GET", "/mta-sts.txt", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			continue
		}
		if tc.status != http.StatusOK {
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s %s: Content-Type %q, want text/plain", tc.method, tc.path, ct)
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("%s %s: Content-Length %q, want %d", tc.method, tc.path, cl, len(body))
		}
		if rec.Body.String() != tc.body {
			t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, rec.Body, tc.body)
		}
	}
}

// FuzzMarshalTextRoundTrip checks that every policy MarshalText accepts
// reads back through Parse to the same mode, max_age and mx patterns.
func FuzzMarshalTextRoundTrip(f *testing.F) {
	f.Add("enforce", "mx.example.com *.example.net", int64(86400))
	f.Add("testing", "mx", int64(1))
	f.Add("none", "", int64(60))
	f.Add("none", "a.b", int64(31557600))
	f.Fuzz(func(t *testing.T, mode, mx string, secs int64) {
		p := &mtasts.Policy{Mode: mtasts.Mode(mode), MX: strings.Fields(mx), MaxAge: time.Duration(secs) * time.Second}
		text, err := p.MarshalText()
		if err != nil {
			return
		}
		got, err := mtasts.Parse(bytes.NewReader(text))
		if err != nil {
			t.Fatalf("Parse(MarshalText(%+v)) = %v\n%s", p, err, text)
		}
		if got.Mode != p.Mode || got.MaxAge != p.MaxAge || len(got.MX) != len(p.MX) {
			t.Fatalf("round trip of %+v gave %+v", p, got)
		}
		for i, pattern := range got.MX {
			if !strings.EqualFold(strings.TrimSuffix(p.MX[i], "."), pattern) {
				t.Fatalf("round trip of mx %q gave %q", p.MX[i], pattern)
			}
		}
	})
}
