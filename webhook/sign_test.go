package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// signed returns the headers of a webhook signed with secrets at ts.
func signed(t testing.TB, id string, ts time.Time, body []byte, secrets ...string) http.Header {
	t.Helper()
	sig, err := Sign(id, ts, body, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {strconv.FormatInt(ts.Unix(), 10)},
		"Webhook-Signature": {sig},
	}
}

// TestSignKnownAnswer: the signature of the Standard Webhooks reference
// libraries' own test vector.
func TestSignKnownAnswer(t *testing.T) {
	// From the reference libraries' tests (a fact, not code): secret
	// MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id msg_p5jXN8AQM9LWM0D4loKWxJek,
	// timestamp 1614265330, body {"test": 2432232314}.
	sig, err := Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`),
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Errorf("Sign: %s, want %s", sig, want)
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	body := []byte(`{"type":"message.received"}`)
	now := func() time.Time { return testNow }
	v := Verifier{Secrets: []string{testSecret}, Now: now}
	if err := v.Verify(signed(t, "m1.0", testNow, body, testSecret), body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Bare base64 secrets, as the reference libraries take them.
	bare := strings.TrimPrefix(testSecret, "whsec_")
	if err := v.Verify(signed(t, "m1.0", testNow, body, bare), body); err != nil {
		t.Errorf("Verify of a signature made with the bare secret: %v", err)
	}
	// Every byte of the body, id and timestamp counts.
	for i := range body {
		changed := append([]byte(nil), body...)
		changed[i] ^= 1
		if err := v.Verify(signed(t, "m1.0", testNow, body, testSecret), changed); !errors.Is(err, ErrNoMatch) {
			t.Fatalf("body with byte %d changed: %v, want ErrNoMatch", i, err)
		}
	}
	h := signed(t, "m1.0", testNow, body, testSecret)
	h.Set(HeaderID, "m1.1")
	if err := v.Verify(h, body); !errors.Is(err, ErrNoMatch) {
		t.Errorf("another id: %v, want ErrNoMatch", err)
	}
	h = signed(t, "m1.0", testNow, body, testSecret)
	h.Set(HeaderTimestamp, strconv.FormatInt(testNow.Unix()+1, 10))
	if err := v.Verify(h, body); !errors.Is(err, ErrNoMatch) {
		t.Errorf("another timestamp: %v, want ErrNoMatch", err)
	}
	if err := v.Verify(signed(t, "m1.0", testNow, body, oldSecret), body); !errors.Is(err, ErrNoMatch) {
		t.Errorf("another secret: %v, want ErrNoMatch", err)
	}
}

// TestVerifyRotation: while a secret is rotated, the sender signs with both
// and a receiver that knows either one accepts; one that knows neither
// refuses.
func TestVerifyRotation(t *testing.T) {
	body := []byte("payload")
	h := signed(t, "id", testNow, body, testSecret, oldSecret)
	if sigs := strings.Fields(h.Get(HeaderSignature)); len(sigs) != 2 {
		t.Fatalf("webhook-signature %q: want two signatures", h.Get(HeaderSignature))
	}
	for _, secrets := range [][]string{{testSecret}, {oldSecret}, {oldSecret, testSecret}, {NewSecret(), oldSecret}} {
		v := Verifier{Secrets: secrets, Now: func() time.Time { return testNow }}
		if err := v.Verify(h, body); err != nil {
			t.Errorf("receiver with %d secrets: %v", len(secrets), err)
		}
	}
	v := Verifier{Secrets: []string{NewSecret(), NewSecret()}, Now: func() time.Time { return testNow }}
	if err := v.Verify(h, body); !errors.Is(err, ErrNoMatch) {
		t.Errorf("receiver with other secrets: %v, want ErrNoMatch", err)
	}
}

// TestVerifyTolerance: a timestamp is accepted up to the tolerance either
// way, inclusive, and refused one second beyond.
func TestVerifyTolerance(t *testing.T) {
	body := []byte("payload")
	for _, tc := range []struct {
		name      string
		tolerance time.Duration
		offset    time.Duration
		want      error
	}{
		{"now", 0, 0, nil},
		{"default, at the limit in the past", 0, -DefaultTolerance, nil},
		{"default, beyond in the past", 0, -DefaultTolerance - time.Second, ErrTooOld},
		{"default, at the limit in the future", 0, DefaultTolerance, nil},
		{"default, beyond in the future", 0, DefaultTolerance + time.Second, ErrTooNew},
		{"a day old", 0, -24 * time.Hour, ErrTooOld},
		{"a year ahead", 0, 365 * 24 * time.Hour, ErrTooNew},
		{"own tolerance, within", time.Hour, -59 * time.Minute, nil},
		{"own tolerance, beyond", time.Hour, 61 * time.Minute, ErrTooNew},
		{"no check", -1, -10 * 365 * 24 * time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Verifier{Secrets: []string{testSecret}, Tolerance: tc.tolerance, Now: func() time.Time { return testNow }}
			err := v.Verify(signed(t, "id", testNow.Add(tc.offset), body, testSecret), body)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyMalformed: each malformed header or secret gets its own error,
// which names what is wrong.
func TestVerifyMalformed(t *testing.T) {
	body := []byte("payload")
	good := signed(t, "id", testNow, body, testSecret)
	sig := good.Get(HeaderSignature)
	ts := good.Get(HeaderTimestamp)
	with := func(name, value string) http.Header {
		h := good.Clone()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		header  http.Header
		secrets []string
		want    error
		says    string
	}{
		{"no id", with(HeaderID, ""), nil, ErrMissingHeader, "webhook-id"},
		{"no timestamp", with(HeaderTimestamp, ""), nil, ErrMissingHeader, "webhook-timestamp"},
		{"no signature", with(HeaderSignature, ""), nil, ErrMissingHeader, "webhook-signature"},
		{"timestamp in milliseconds", with(HeaderTimestamp, ts+"000"), nil, ErrTooNew, ""},
		{"timestamp with letters", with(HeaderTimestamp, ts+"abc"), nil, ErrTimestamp, ts + "abc"},
		{"timestamp with a sign", with(HeaderTimestamp, "+"+ts), nil, ErrTimestamp, ""},
		{"timestamp as a date", with(HeaderTimestamp, testNow.Format(time.RFC3339)), nil, ErrTimestamp, ""},
		{"timestamp out of range", with(HeaderTimestamp, "99999999999999999999"), nil, ErrTimestamp, ""},
		{"timestamp negative", with(HeaderTimestamp, "-9223372036854775808"), nil, ErrTooOld, ""},
		{"v1a signature only", with(HeaderSignature, "v1a,"+strings.TrimPrefix(sig, "v1,")), nil, ErrNoMatch, "0 v1 signatures"},
		{"no version", with(HeaderSignature, strings.TrimPrefix(sig, "v1,")), nil, ErrNoMatch, ""},
		{"v2", with(HeaderSignature, "v2,"+strings.TrimPrefix(sig, "v1,")), nil, ErrNoMatch, ""},
		{"signature cut short", with(HeaderSignature, sig[:len(sig)-2]), nil, ErrNoMatch, "1 v1 signatures"},
		{"signature with a comma more", with(HeaderSignature, sig+",x"), nil, ErrNoMatch, ""},
		{"empty v1", with(HeaderSignature, "v1,"), nil, ErrNoMatch, ""},
		{"no secret", good, []string{}, ErrNoSecret, ""},
		{"empty secret", good, []string{"whsec_"}, ErrSecret, ""},
		{"secret not base64", good, []string{"whsec_not base64!"}, ErrSecret, "secret 1 of 1"},
		{"second secret malformed", good, []string{testSecret, "whsec_%%"}, ErrSecret, "secret 2 of 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := tc.secrets
			if secrets == nil {
				secrets = []string{testSecret}
			}
			v := Verifier{Secrets: secrets, Now: func() time.Time { return testNow }}
			err := v.Verify(tc.header, body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Verify: %q does not say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), "not base64!") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	// Several signatures, spaces around them: the good one is found.
	h := with(HeaderSignature, "  v1a,abc v1,AAAA "+sig+"  ")
	if err := (&Verifier{Secrets: []string{testSecret}, Now: func() time.Time { return testNow }}).Verify(h, body); err != nil {
		t.Errorf("Verify among other signatures: %v", err)
	}
}

func TestSignErrors(t *testing.T) {
	if _, err := Sign("id", testNow, nil); !errors.Is(err, ErrNoSecret) {
		t.Errorf("Sign without secrets: %v, want ErrNoSecret", err)
	}
	if _, err := Sign("id", testNow, nil, "whsec_!!"); !errors.Is(err, ErrSecret) {
		t.Errorf("Sign with a malformed secret: %v, want ErrSecret", err)
	}
	a, b := NewSecret(), NewSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Errorf("NewSecret: %q, %q", a, b)
	}
	if key, err := parseSecret(a); err != nil || len(key) != 32 {
		t.Errorf("NewSecret: %d bytes, %v", len(key), err)
	}
}

// FuzzVerify: Verify never panics, and accepts only a header whose
// signatures include the one Sign makes of that id, timestamp and body with
// the secret, at a timestamp within the tolerance.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"a":1}`)
	for _, offset := range []int64{0, -300, 301} {
		ts := testNow.Unix() + offset
		sig, _ := Sign("m1.0", time.Unix(ts, 0), body, testSecret)
		f.Add("m1.0", strconv.FormatInt(ts, 10), sig, body)
		f.Add("m1.0", strconv.FormatInt(ts, 10), sig+" v1a,xyz", append(body, ' '))
	}
	f.Add("", "", "", []byte{})
	f.Add("id", "1", "v1,", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
		v := Verifier{Secrets: []string{oldSecret, testSecret}, Now: func() time.Time { return testNow }}
		if v.Verify(h, body) != nil {
			return
		}
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < testNow.Unix()-300 || n > testNow.Unix()+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		for _, secret := range v.Secrets {
			want, _ := Sign(id, time.Unix(n, 0), body, secret)
			for _, s := range strings.Split(sig, " ") {
				if s == want {
					return
				}
			}
		}
		t.Fatalf("accepted id %q, timestamp %q, signature %q for body %q", id, ts, sig, body)
	})
}
