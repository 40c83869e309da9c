package auth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// hop returns msg with the ARC set that s makes for it, given chain.
func hop(t testing.TB, s *Sealer, msg string, chain ARCResult) string {
	t.Helper()
	set, err := s.Seal(strings.NewReader(msg), nil, chain)
	if err != nil {
		t.Fatalf("Seal by %s: %v", s.Domain, err)
	}
	return string(set) + msg
}

// twoHops returns msg forwarded by example.net, then by example.org with
// the key of selector sel, each seal saying the chain passed.
func twoHops(t testing.TB, msg, sel string) string {
	t.Helper()
	msg = hop(t, testSealer("example.net", "sel"), msg, ARCResult{Result: None})
	s := testSealer("example.org", sel)
	s.Key = rsaKey() // the key the test zone publishes under every other name
	return hop(t, s, msg, ARCResult{Result: Pass, Instance: 1})
}

// editField returns msg with the text of its field of kind and instance i
// changed by edit; an edit that returns "" removes the field.
func editField(t testing.TB, msg, kind string, i int, edit func(string) string) string {
	t.Helper()
	h, body := splitMessage(t, msg)
	k := arcFieldIndex(t, h, kind, i)
	if text := edit(h[k].text); text == "" {
		h = append(h[:k], h[k+1:]...)
	} else {
		h[k].text = text
	}
	return joinMessage(h, body)
}

// replace returns an edit that replaces old, which must be there, by new.
func replace(t testing.TB, old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in %q", old, s)
		}
		return strings.Replace(s, old, new, 1)
	}
}

// setsOf returns the ARC sets of h by instance, whatever the chain's
// structure: the fields of each instance that h has.
func setsOf(h []headerField) []arcSet {
	ch := readChain(h)
	sets := make([]arcSet, ch.highest)
	for k := range ch.fields {
		f := &ch.fields[k]
		if f.instance < 1 {
			continue
		}
		s := &sets[f.instance-1]
		switch f.kind {
		case aarField:
			s.aar = f
		case amsField:
			s.ams = f
		case sealField:
			s.seal = f
		}
	}
	return sets
}

var amsBodyHashTag = regexp.MustCompile(`bh=[^;]*;`)

// resign returns msg with its field of kind (AMS or seal) and instance i
// changed by edit and signed again with rsaKey, and the seals above it
// signed again: a chain that breaks only the rule that edit breaks, whose
// signatures all verify. An AMS gets the body hash of its c=.
func resign(t testing.TB, msg, kind string, i int, edit func(string) string) string {
	t.Helper()
	msg = editField(t, msg, kind, i, edit)
	if kind == amsField {
		msg = editField(t, msg, amsField, i, func(text string) string {
			_, value, _ := strings.Cut(text, ":")
			tags, err := parseTagList(value)
			if err != nil {
				t.Fatal(err)
			}
			headerRelaxed, bodyRelaxed, _ := readCanonicalization(tags["c"])
			h, body := splitMessage(t, msg)
			bh, err := hashBody(strings.NewReader(body), bodyRelaxed)
			if err != nil {
				t.Fatal(err)
			}
			text = amsBodyHashTag.ReplaceAllLiteralString(text, "bh="+base64.StdEncoding.EncodeToString(bh)+";")
			text = withoutSignature(text)
			return text + rsaSign(t, signedHeaderHash(pickFields(h, headerNames(tags["h"])), text, headerRelaxed)) + "\r\n"
		})
	}
	h, _ := splitMessage(t, msg)
	from := i
	if kind == sealField {
		from = i + 1
		msg = reseal(t, msg, i)
	}
	for k := from; k <= len(setsOf(h)); k++ {
		msg = reseal(t, msg, k)
	}
	return msg
}

// reseal signs the seal of instance i of msg again with rsaKey.
func reseal(t testing.TB, msg string, i int) string {
	t.Helper()
	h, _ := splitMessage(t, msg)
	sets := setsOf(h)[:i]
	return editField(t, msg, sealField, i, func(text string) string {
		text = withoutSignature(text)
		sets[i-1].seal = &arcField{text: text}
		return text + rsaSign(t, signedHeaderHash(sealedFields(sets), text, true)) + "\r\n"
	})
}

func rsaSign(t testing.TB, digest []byte) string {
	t.Helper()
	b, err := rsa.SignPKCS1v15(rand.Reader, rsaKey(), crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// changeSignature changes the first four characters of the b= value of
// an ARC field: the signature stays base64 of the same length.
func changeSignature(text string) string {
	i := strings.Index(text, "b=") + 2
	other := "AAAA"
	if text[i:i+4] == other {
		other = "BBBB"
	}
	return text[:i] + other + text[i+4:]
}

// moveToTop returns msg with the ARC fields of instance i moved to the
// top of the header, in the order given.
func moveToTop(t testing.TB, msg string, i int, kinds ...string) string {
	t.Helper()
	h, body := splitMessage(t, msg)
	var top []headerField
	for _, kind := range kinds {
		k := arcFieldIndex(t, h, kind, i)
		top = append(top, h[k])
		h = append(h[:k], h[k+1:]...)
	}
	return joinMessage(append(top, h...), body)
}

// copyToTop returns msg with copies of its ARC fields of instance i of
// the kinds given on top.
func copyToTop(t testing.TB, msg string, i int, kinds ...string) string {
	t.Helper()
	h, body := splitMessage(t, msg)
	var top []headerField
	for _, kind := range kinds {
		top = append(top, h[arcFieldIndex(t, h, kind, i)])
	}
	return joinMessage(append(top, h...), body)
}

// Outputs of dkimpy's arcverify.
const (
	dkimpyPass = "cv=b'pass'"
	dkimpyFail = "cv=b'fail'"
	// dkimpyEnded: the last seal says cv=fail and dkimpy reads no further.
	dkimpyEnded = "cv=None"
)

// TestARCTampering covers RFC 8617 §5.2 with every kind of change to a
// chain of two sets: what ARC allows (relaxed canonicalization, unsigned
// fields), and what fails it: the body, signed fields, any ARC field, the
// structure of the sets, their instances and cv=, the tags of the
// signatures, and the keys. Each message is judged by Checker.ARC and by
// dkimpy's arcverify, then forwarded: a failed chain gets a seal with
// cv=fail that covers only its own set (RFC 8617 §5.1.2), after which no
// set may be added; a chain ended, or of temperror, gets none.
func TestARCTampering(t *testing.T) {
	needDkimpy(t)
	c, srv := newARCChecker(t)
	srv.ServFail("servfail._domainkey.example.org")
	srv.Timeout("timeout._domainkey.example.org")
	msg := arcTestMessage(t)
	base := twoHops(t, msg, "sel")
	h, body := splitMessage(t, base)
	withBody := func(b string) string { return joinMessage(h, b) }
	// hop1Key is base with the first set made with the key of selector sel.
	hop1Key := func(sel string) string {
		s := testSealer("example.org", sel)
		s.Key = rsaKey()
		m := hop(t, s, msg, ARCResult{Result: None})
		return hop(t, testSealer("example.net", "sel"), m, ARCResult{Result: Pass, Instance: 1})
	}
	ams2 := func(edit func(string) string) string { return resign(t, base, amsField, 2, edit) }
	seal := func(i int, edit func(string) string) string { return resign(t, base, sealField, i, edit) }
	bodyOnly := strings.Replace(body, "noon?", "one?", 1)

	cases := []struct {
		section, name string
		msg           string
		want          Result
		instance      int
		reason        string // in Reason
		dkimpy        string // in arcverify's output; "" where it is not asked (see the comment)
	}{
		// What ARC allows.
		{"RFC 8617 §5.2", "unchanged", base, Pass, 2, "", dkimpyPass},
		{"RFC 6376 §5.4", "unsigned field added on top", "Received: from mx.example by mx.example.org\r\n" + base, Pass, 2, "", dkimpyPass},
		{"RFC 6376 §3.4.2", "signed field respaced and refolded (relaxed)",
			strings.Replace(base, "Subject: Lunch\r\n", "subject:   Lunch \r\n\t \r\n", 1), Pass, 2, "", dkimpyPass},
		{"RFC 6376 §3.4.4", "white space changed in the body, empty lines added at its end (relaxed)",
			withBody(strings.Replace(body, "double spaces \t and", "double spaces and", 1) + "\r\n\r\n \r\n"), Pass, 2, "", dkimpyPass},
		{"RFC 8617 §5.2", "newest set stripped: a shorter chain, still valid", editField(t, editField(t, editField(t, base,
			aarField, 2, func(string) string { return "" }), amsField, 2, func(string) string { return "" }), sealField, 2, func(string) string { return "" }),
			Pass, 1, "", dkimpyPass},
		// dkimpy takes the fields a seal covers by their place in the
		// header, not by instance as RFC 8617 §5.1.1 orders them.
		{"RFC 8617 §5.1.1", "set i=1 moved above set i=2", moveToTop(t, base, 1, sealField, amsField, aarField), Pass, 2, "", dkimpyFail},
		{"RFC 8617 §5.1.1", "fields of set i=2 in another order", moveToTop(t, base, 2, aarField, sealField, amsField), Pass, 2, "", dkimpyPass},

		// The message.
		{"RFC 8617 §5.2 step 4", "body changed", withBody(bodyOnly), Fail, 2, "ARC-Message-Signature i=2: body hash did not verify", dkimpyFail},
		{"RFC 8617 §5.2 step 4", "body emptied", withBody(""), Fail, 2, "body hash did not verify", dkimpyFail},
		{"RFC 8617 §5.2 step 4", "signed field changed", strings.Replace(base, "Subject: Lunch", "Subject: Dinner", 1), Fail, 2, "ARC-Message-Signature i=2 of example.org: signature did not verify", dkimpyFail},
		{"RFC 8617 §5.2 step 4", "DKIM-Signature changed", strings.Replace(base, "DKIM-Signature: ", "DKIM-Signature: x=1; ", 1), Fail, 2, "ARC-Message-Signature i=2 of example.org: signature did not verify", dkimpyFail},
		// Seal names From and Subject once more than the message has
		// them (RFC 6376 §8.15); dkimpy, taking its h= as the list of
		// fields present, does not see that a field was added.
		{"RFC 6376 §8.15", "second From added on top", "From: Mallory <ceo@example.com>\r\n" + base, Fail, 2, "ARC-Message-Signature i=2 of example.org: signature did not verify", ""},
		{"RFC 6376 §8.15", "second Subject added on top", "Subject: Urgent\r\n" + base, Fail, 2, "ARC-Message-Signature i=2 of example.org: signature did not verify", ""},

		// The ARC fields.
		{"RFC 8617 §5.2 step 7", "ARC-Seal i=1 changed", editField(t, base, sealField, 1, replace(t, "t=", "t=1")), Fail, 2, "ARC-Seal i=2 of example.org: signature did not verify", dkimpyFail},
		{"RFC 8617 §5.2 step 7", "ARC-Seal i=2 signature changed", editField(t, base, sealField, 2, changeSignature), Fail, 2, "ARC-Seal i=2 of example.org: signature did not verify", dkimpyFail},
		// RFC 8017 §8.2.2 step 1: a signature is as long as the modulus.
		// dkimpy reads it as a number, where leading zero bytes
		// (AAAA in base64) change nothing.
		{"RFC 8017 §8.2.2", "ARC-Seal i=2 signature with leading zero bytes", editField(t, base, sealField, 2, replace(t, "b=", "b=AAAA")), Fail, 2, "ARC-Seal i=2 of example.org: signature did not verify", dkimpyPass},
		{"RFC 8617 §5.2 step 7", "ARC-Authentication-Results i=1 changed", editField(t, base, aarField, 1, replace(t, "arc=none", "arc=none dkim=pass")), Fail, 2, "ARC-Seal i=2 of example.org: signature did not verify", dkimpyFail},
		{"RFC 8617 §5.2 step 7", "ARC-Message-Signature i=1 changed", editField(t, base, amsField, 1, replace(t, "c=relaxed/relaxed", "c=relaxed/simple")), Fail, 2, "ARC-Seal i=2 of example.org: signature did not verify", dkimpyFail},
		{"RFC 8617 §5.2 step 7", "ARC-Seal i=1 signed again by another key", resign(t, base, sealField, 1, replace(t, "d=example.net", "d=example.org")), Pass, 2, "", dkimpyPass},

		// Structure.
		{"RFC 8617 §5.2 step 3", "ARC-Authentication-Results i=2 removed", editField(t, base, aarField, 2, func(string) string { return "" }), Fail, 2, "no ARC-Authentication-Results with i=2", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "ARC-Message-Signature i=1 removed", editField(t, base, amsField, 1, func(string) string { return "" }), Fail, 2, "no ARC-Message-Signature with i=1", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "ARC-Seal i=2 removed", editField(t, base, sealField, 2, func(string) string { return "" }), Fail, 2, "no ARC-Seal with i=2", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "set i=1 removed", editField(t, editField(t, editField(t, base,
			aarField, 1, func(string) string { return "" }), amsField, 1, func(string) string { return "" }), sealField, 1, func(string) string { return "" }),
			Fail, 2, "ARC set i=1 missing", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "ARC-Message-Signature i=2 twice", copyToTop(t, base, 2, amsField), Fail, 2, "two ARC-Message-Signature fields with i=2", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "ARC-Authentication-Results i=1 twice", copyToTop(t, base, 1, aarField), Fail, 2, "two ARC-Authentication-Results fields with i=1", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "set i=1 twice", copyToTop(t, base, 1, sealField, amsField, aarField), Fail, 2, "two ", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "instance gap: set i=2 numbered 3",
			editField(t, editField(t, editField(t, base, aarField, 2, replace(t, "i=2;", "i=3;")), amsField, 2, replace(t, "i=2;", "i=3;")), sealField, 2, replace(t, "i=2;", "i=3;")),
			Fail, 3, "ARC set i=2 missing", dkimpyFail},
		{"RFC 8617 §5.2 step 1", "instance above 50: set i=2 numbered 51",
			editField(t, editField(t, editField(t, base, aarField, 2, replace(t, "i=2;", "i=51;")), amsField, 2, replace(t, "i=2;", "i=51;")), sealField, 2, replace(t, "i=2;", "i=51;")),
			Fail, 51, "instance i=51 above 50", dkimpyFail},
		{"RFC 8617 §4.2.1", "i=0", editField(t, base, amsField, 2, replace(t, "i=2;", "i=0;")), Fail, 2, "ARC-Message-Signature without a valid i=", dkimpyFail},
		{"RFC 8617 §4.2.1", "i= not a number", editField(t, base, sealField, 2, replace(t, "i=2;", "i=two;")), Fail, 2, "ARC-Seal without a valid i=", dkimpyFail},
		{"RFC 8617 §4.2.1", "i= empty", editField(t, base, sealField, 1, replace(t, "i=1;", "i=;")), Fail, 2, "ARC-Seal without a valid i=", dkimpyFail},
		{"RFC 8617 §4.2.1", "i= of ten digits", editField(t, base, amsField, 1, replace(t, "i=1;", "i=0000000001;")), Fail, 2, "ARC-Message-Signature without a valid i=", dkimpyFail},
		{"RFC 8617 §4.2.1", "i= negative", editField(t, base, amsField, 1, replace(t, "i=1;", "i=-1;")), Fail, 2, "ARC-Message-Signature without a valid i=", dkimpyFail},
		{"RFC 8617 §4.1.1", "AAR without i=", editField(t, base, aarField, 2, replace(t, "i=2; ", "")), Fail, 2, "ARC-Authentication-Results without a valid i=", dkimpyFail},
		{"RFC 8617 §4.1.1", "AAR without ; after i=", editField(t, base, aarField, 2, replace(t, "i=2;", "i=2")), Fail, 2, "ARC-Authentication-Results without a valid i=", dkimpyFail},

		// cv= (RFC 8617 §5.2 steps 2 and 3).
		{"RFC 8617 §5.2 step 2", "last seal says cv=fail", hop(t, testSealer("example.org", "sel"),
			withBody(bodyOnly), ARCResult{Result: Fail, Instance: 2, Reason: "body hash did not verify"}), Fail, 3, "ARC-Seal i=3 says cv=fail", dkimpyEnded},
		{"RFC 8617 §5.2 step 3", "cv=pass at i=1", seal(1, replace(t, "cv=none", "cv=pass")), Fail, 2, "ARC-Seal i=1 says cv=pass, not none", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "cv=none at i=2", seal(2, replace(t, "cv=pass", "cv=none")), Fail, 2, "ARC-Seal i=2 says cv=none, not pass", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "cv=fail at i=1 under a pass", seal(1, replace(t, "cv=none", "cv=fail")), Fail, 2, "ARC-Seal i=1 says cv=fail, not none", dkimpyEnded},
		{"RFC 8617 §5.2 step 3", "cv= of no known value", seal(2, replace(t, "cv=pass", "cv=passed")), Fail, 2, "ARC-Seal i=2 says cv=passed, not pass", dkimpyFail},
		{"RFC 8617 §5.2 step 3", "cv= missing", seal(2, replace(t, " cv=pass;", "")), Fail, 2, "ARC-Seal i=2 says cv=, not pass", dkimpyFail},
		// RFC 5234 §2.3: ABNF strings ignore case; dkimpy compares bytes.
		{"RFC 8617 §4.1.3", "cv=PASS in capitals", seal(2, replace(t, "cv=pass", "cv=PASS")), Pass, 2, "", dkimpyFail},

		// The tags of the signatures.
		{"RFC 8617 §4.1.3", "ARC-Seal with h=", seal(2, replace(t, "\r\n\tb=", " h=from;\r\n\tb=")), Fail, 2, "ARC-Seal i=2 has an h= tag", dkimpyFail},
		{"RFC 8617 §4.1.3", "ARC-Seal i=1 with h=", seal(1, replace(t, "\r\n\tb=", " h=from;\r\n\tb=")), Fail, 2, "ARC-Seal i=1 has an h= tag", dkimpyFail},
		{"RFC 8617 §4.1.3", "ARC-Seal without d=", seal(2, replace(t, " d=example.org;", "")), Fail, 2, "ARC-Seal i=2 has no d= tag", dkimpyFail},
		{"RFC 8617 §4.1.3", "ARC-Seal with a tag twice", editField(t, base, sealField, 2, replace(t, " d=example.org;", " d=example.org; d=example.org;")), Fail, 2, "given twice", dkimpyFail},
		{"RFC 8617 §4.1.3", "ARC-Seal with b= not base64", editField(t, base, sealField, 2, replace(t, "b=", "b=*")), Fail, 2, "ARC-Seal i=2: b= is not base64", dkimpyFail},
		{"RFC 8617 §4.1.3", "ARC-Seal with an unknown a=", seal(2, replace(t, "a=rsa-sha256", "a=rsa-sha512")), Fail, 2, "unknown algorithm a=rsa-sha512", dkimpyFail},
		{"RFC 8463 §3", "ARC-Seal a=ed25519-sha256 with an RSA key", seal(2, replace(t, "a=rsa-sha256", "a=ed25519-sha256")), Fail, 2, "key type does not match a=ed25519-sha256", dkimpyFail},
		{"RFC 8301 §3.1", "ARC-Message-Signature with a=rsa-sha1", ams2(replace(t, "a=rsa-sha256", "a=rsa-sha1")), Fail, 2, "a=rsa-sha1 is not accepted", dkimpyFail},
		{"RFC 8617 §4.1.2", "ARC-Message-Signature without bh=", ams2(replace(t, "bh=", "xh=")), Fail, 2, "ARC-Message-Signature i=2 has no bh= tag", dkimpyFail},
		{"RFC 8617 §4.1.2", "ARC-Message-Signature with a tag not in the grammar", editField(t, base, amsField, 2, replace(t, "t=", "2t=1; t=")), Fail, 2, "bad tag name", dkimpyFail},
		{"RFC 8617 §4.1.2", "ARC-Message-Signature with an unknown c=", ams2(replace(t, "c=relaxed/relaxed", "c=relaxed/nowsp")), Fail, 2, "unknown canonicalization c=relaxed/nowsp", dkimpyFail},
		{"RFC 8617 §4.1.2", "ARC-Message-Signature signing ARC-Seal", ams2(replace(t, "h=From:", "h=ARC-Seal:From:")), Fail, 2, "ARC-Message-Signature i=2 signs ARC-Seal", dkimpyFail},
		// DKIM's h= must name From (RFC 6376 §3.5); dkimpy does not
		// ask it of an AMS.
		{"RFC 6376 §3.5", "ARC-Message-Signature not signing From", ams2(func(s string) string { return strings.ReplaceAll(s, "From:", "") }), Fail, 2, "ARC-Message-Signature i=2 does not sign From", dkimpyPass},
		// A body length leaves the rest of the body unsigned: refused, as
		// the DKIM check refuses it; dkimpy honours it.
		{"RFC 6376 §8.2", "ARC-Message-Signature with l=", ams2(replace(t, "bh=", "l=100000; bh=")), Fail, 2, "ARC-Message-Signature i=2 has a body length l=", dkimpyPass},

		// Canonicalizations of the AMS (RFC 6376 §3.4): each verifies, and
		// simple sees changes that relaxed forgives.
		{"RFC 6376 §3.4.1", "c=simple/simple", ams2(replace(t, "c=relaxed/relaxed", "c=simple/simple")), Pass, 2, "", dkimpyPass},
		{"RFC 6376 §3.4.1", "c=simple/relaxed", ams2(replace(t, "c=relaxed/relaxed", "c=simple/relaxed")), Pass, 2, "", dkimpyPass},
		{"RFC 6376 §3.4.3", "c=relaxed/simple", ams2(replace(t, "c=relaxed/relaxed", "c=relaxed/simple")), Pass, 2, "", dkimpyPass},
		{"RFC 6376 §3.5", "c=relaxed: body simple", ams2(replace(t, "c=relaxed/relaxed", "c=relaxed")), Pass, 2, "", dkimpyPass},
		// RFC 6376 §3.5: no c= is simple/simple; dkimpy takes
		// relaxed/relaxed for ARC.
		{"RFC 6376 §3.5", "no c=: simple/simple", ams2(replace(t, " c=relaxed/relaxed;", "")), Pass, 2, "", dkimpyFail},
		{"RFC 6376 §3.4.1", "c=simple/simple, signed field respaced",
			strings.Replace(ams2(replace(t, "c=relaxed/relaxed", "c=simple/simple")), "Subject: Lunch", "Subject:  Lunch", 1), Fail, 2, "signature did not verify", dkimpyFail},
		{"RFC 6376 §3.4.3", "c=relaxed/simple, body respaced",
			strings.Replace(ams2(replace(t, "c=relaxed/relaxed", "c=relaxed/simple")), "double spaces \t and", "double spaces and", 1), Fail, 2, "body hash did not verify", dkimpyFail},
		{"RFC 6376 §3.4.3", "c=relaxed/simple, empty lines added at the end of the body",
			ams2(replace(t, "c=relaxed/relaxed", "c=relaxed/simple")) + "\r\n\r\n", Pass, 2, "", dkimpyPass},

		// Keys (RFC 6376 §6.1.2, RFC 8301).
		{"RFC 6376 §6.1.2", "no key (NXDOMAIN)", twoHops(t, msg, "nokey"), Fail, 2, "ARC-Message-Signature i=2: no key at nokey._domainkey.example.org", dkimpyFail},
		{"RFC 6376 §6.1.2", "no key for the seal of i=1", hop1Key("nokey"), Fail, 2, "ARC-Seal i=1: no key at nokey._domainkey.example.org", dkimpyFail},
		{"RFC 6376 §3.6.1", "key revoked (p= empty)", twoHops(t, msg, "revoked"), Fail, 2, "key revoked", dkimpyFail},
		{"RFC 6376 §3.6.1", "key revoked for the seal of i=1", hop1Key("revoked"), Fail, 2, "ARC-Seal i=1: key at revoked._domainkey.example.org: key revoked", dkimpyFail},
		{"RFC 6376 §3.6.1", "key p= not base64", twoHops(t, msg, "badp"), Fail, 2, "p= is not base64", dkimpyFail},
		{"RFC 6376 §3.6.1", "key record with a tag twice", twoHops(t, msg, "badtags"), Fail, 2, "given twice", ""},
		{"RFC 6376 §3.6.1", "key record v=DKIM2", twoHops(t, msg, "badv"), Fail, 2, "v=DKIM2 is not DKIM1", ""},
		{"RFC 6376 §3.6.2.2", "two key records", twoHops(t, msg, "twice"), Fail, 2, "2 TXT records", ""},
		{"RFC 6376 §3.6.1", "key for another service (s=tlsrpt)", twoHops(t, msg, "tlsrpt"), Fail, 2, "key not for email", ""},
		{"RFC 6376 §3.6.1", "key for any service (s=*)", twoHops(t, msg, "anyservice"), Pass, 2, "", dkimpyPass},
		{"RFC 6376 §3.6.1", "key for sha1 only (h=sha1)", twoHops(t, msg, "sha1only"), Fail, 2, "key not for sha256", ""},
		{"RFC 6376 §3.6.1", "key for sha1 and sha256", twoHops(t, msg, "sha256"), Pass, 2, "", dkimpyPass},
		{"RFC 6376 errata 3017", "RSA key in PKCS #1 form", twoHops(t, msg, "pkcs1"), Pass, 2, "", dkimpyPass},
		{"RFC 8463 §4", "k=ed25519 with an RSA key's bytes", twoHops(t, msg, "edasrsa"), Fail, 2, "Ed25519 key of", dkimpyFail},
		// dkimpy fails with a Python exception here.
		{"RFC 8463 §4", "k=ed25519 for an rsa-sha256 signature", twoHops(t, msg, "typemismatch"), Fail, 2, "key type does not match a=rsa-sha256", ""},
		{"RFC 6376 §3.6.1", "unknown key type k=dsa", twoHops(t, msg, "unknownk"), Fail, 2, "unknown key type k=dsa", dkimpyFail},
		// A key that cannot be had now may be there later: temperror,
		// never a verdict on the chain. dkimpy takes a failed lookup for
		// a missing key.
		{"RFC 6376 §6.1.2", "key lookup SERVFAIL", twoHops(t, msg, "servfail"), TempError, 2, "ARC-Message-Signature i=2: key lookup of servfail._domainkey.example.org failed temporarily", dkimpyFail},
		{"RFC 6376 §6.1.2", "key lookup SERVFAIL for the seal of i=1", hop1Key("servfail"), TempError, 2, "ARC-Seal i=1: key lookup of servfail._domainkey.example.org failed temporarily", dkimpyFail},
		{"RFC 6376 §6.1.2", "key lookup timeout", twoHops(t, msg, "timeout"), TempError, 2, "key lookup of timeout._domainkey.example.org failed temporarily", ""},
	}
	// dkimpy judges them all in one run.
	var asked []string
	for _, tc := range cases {
		if tc.dkimpy != "" {
			asked = append(asked, tc.msg)
		}
	}
	said := arcverifyAll(t, srv, asked)
	for _, tc := range cases {
		var dkimpy string
		if tc.dkimpy != "" {
			dkimpy, said = said[0], said[1:]
		}
		t.Run(tc.section+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got := c.ARC(t.Context(), strings.NewReader(tc.msg))
			if got.Result != tc.want || got.Instance != tc.instance || !strings.Contains(got.Reason, tc.reason) || (tc.want == Pass) != (got.Reason == "") {
				t.Errorf("ARC = %+v, want %s at i=%d for %q", got, tc.want, tc.instance, tc.reason)
			}
			if !strings.Contains(dkimpy, tc.dkimpy) {
				t.Errorf("arcverify says %q, want %q", dkimpy, tc.dkimpy)
			}
			checkForward(t, c, tc.msg, got)
		})
	}
}

// checkForward seals msg, whose chain is chain, and checks what Seal
// made of it: for a passing chain, a set that extends it; for a failed
// one, a set with cv=fail whose seal covers only its own set (RFC 8617
// §5.1.2), which ends the chain; for an ended chain or temperror, none.
func checkForward(t *testing.T, c *Checker, msg string, chain ARCResult) {
	t.Helper()
	s := testSealer("example.com", "sel")
	set, err := s.Seal(strings.NewReader(msg), nil, chain)
	switch {
	case chain.Result == TempError:
		if !errors.Is(err, ErrARCChainTempError) {
			t.Fatalf("Seal of a temperror chain: %v, want ErrARCChainTempError", err)
		}
		return
	case chain.Instance >= maxInstance || chain.Reason == fmt.Sprintf("ARC-Seal i=%d says cv=fail", chain.Instance):
		if !errors.Is(err, ErrARCChainEnded) {
			t.Fatalf("Seal of an ended chain: %v, want ErrARCChainEnded", err)
		}
		return
	case err != nil:
		t.Fatalf("Seal: %v", err)
	}
	sealed := string(set) + msg
	i := chain.Instance + 1
	after := c.ARC(t.Context(), strings.NewReader(sealed))
	if chain.Result == Pass {
		if after != (ARCResult{Result: Pass, Instance: i}) {
			t.Fatalf("ARC after Seal = %+v, want pass at i=%d", after, i)
		}
		return
	}
	newest := newestSet(t, sealed, i)
	if cv := newest.seal.tags["cv"]; cv != "fail" {
		t.Fatalf("seal of a failed chain says cv=%s", cv)
	}
	if aerr := verifySeal([]arcSet{newest}, &keyLookup{c: c, ctx: t.Context()}); aerr != nil {
		t.Fatalf("the cv=fail seal does not verify over its own set alone: %s", aerr.reason)
	}
	if after.Result != Fail || after.Instance != i || after.Reason != fmt.Sprintf("ARC-Seal i=%d says cv=fail", i) {
		t.Fatalf("ARC after the cv=fail seal = %+v, want fail at i=%d for cv=fail", after, i)
	}
	if _, err := s.Seal(strings.NewReader(sealed), nil, after); !errors.Is(err, ErrARCChainEnded) {
		t.Fatalf("Seal after a cv=fail seal: %v, want ErrARCChainEnded", err)
	}
}
