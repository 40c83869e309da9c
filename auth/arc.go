package auth

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ARCResult is the outcome of validating a message's ARC chain (RFC 8617
// §5.2).
type ARCResult struct {
	// Result is None for a message without ARC header fields, Pass for a
	// valid chain and Fail for any other. A DNS failure that may go away
	// (a key lookup that timed out or got SERVFAIL), a check stopped by its
	// context or Checker.Timeout, and a message that could not be read to
	// its end are TempError: the chain is then neither trusted nor
	// condemned, and Sealer.Seal refuses it (ErrARCChainTempError).
	Result Result
	// Instance is the highest instance (i=) of the message's ARC header
	// fields, 0 without a chain. It may be above 50 in a chain that fails
	// for it.
	Instance int
	// Reason says in a few words why the result is not pass or none, for
	// logs and the comment of the arc= result; "" otherwise.
	Reason string
}

// ARC validates the ARC chain of msg, a whole message with its header and
// body, per RFC 8617 §5.2:
//
//  1. No ARC header field at all: None. More than 50 sets (an instance
//     above 50): Fail.
//  2. The ARC-Seal of the highest instance says cv=fail: Fail.
//  3. Structure: exactly one ARC-Authentication-Results,
//     ARC-Message-Signature and ARC-Seal for each instance from 1 to the
//     highest, whose instances can be read; cv=none at i=1 and cv=pass
//     above; no ARC-Seal with an h= tag (RFC 8617 §4.1.3). Otherwise Fail.
//  4. The ARC-Message-Signature of the highest instance verifies, as a
//     DKIM-Signature does (RFC 6376 §6.1), with simple or relaxed header
//     and body canonicalization (c=, simple/simple when absent). It must
//     sign From and must not sign ARC-Seal; one with a body length (l=) is
//     refused, as DKIM refuses it.
//  5. Every ARC-Seal verifies, from the highest instance down: relaxed
//     header canonicalization over the sets 1 to its own, in instance
//     order, each as ARC-Authentication-Results, ARC-Message-Signature,
//     ARC-Seal, its own with b= empty (RFC 8617 §5.1.1).
//
// Signatures are rsa-sha256, with keys of 1024 bits or more (RFC 8301),
// or ed25519-sha256 (RFC 8463); rsa-sha1 fails. Keys are DKIM key records
// looked up through Resolver: a key that does not exist, is revoked (p=
// empty) or is malformed fails the chain; a DNS failure that may go away
// is TempError. Timeout bounds the whole check, hashing the body included;
// the check stops, with TempError, when ctx ends.
//
// The header is read up to MaxHeaderBytes: a larger or malformed header
// fails the chain, which cannot be judged. The body is hashed as it is
// read, in memory that does not grow with it; it is read only when the
// structure is valid and the key of the signature that covers it is
// found, and msg may not be read to its end.
func (c *Checker) ARC(ctx context.Context, msg io.Reader) ARCResult {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	rr := &readErrReader{r: msg}
	br := bufio.NewReaderSize(ctxReader{ctx: ctx, r: rr}, 32<<10)
	h, err := readRawHeader(br, c.maxHeaderBytes())
	switch {
	case isContextErr(err):
		return ARCResult{Result: TempError, Reason: stoppedReason(err)}
	case rr.err != nil:
		return ARCResult{Result: TempError, Reason: "reading the message failed"}
	case errors.Is(err, ErrHeaderTooLarge):
		return ARCResult{Result: Fail, Reason: fmt.Sprintf("header larger than %d bytes", c.maxHeaderBytes())}
	case err != nil:
		return ARCResult{Result: Fail, Reason: "malformed header"}
	}
	chain := readChain(h)
	if len(chain.fields) == 0 {
		return ARCResult{Result: None}
	}
	out := ARCResult{Result: Pass, Instance: chain.highest}
	sets, aerr := chain.validate()
	if aerr == nil {
		keys := &keyLookup{c: c, ctx: ctx}
		aerr = verifyAMS(sets[len(sets)-1].ams, h, br, keys)
		for i := len(sets) - 1; aerr == nil && i >= 0; i-- {
			aerr = verifySeal(sets[:i+1], keys)
		}
		if aerr != nil && isContextErr(ctx.Err()) {
			aerr = &arcError{result: TempError, reason: stoppedReason(ctx.Err())}
		} else if aerr != nil && rr.err != nil {
			aerr = &arcError{result: TempError, reason: "reading the message failed"}
		}
	}
	if aerr != nil {
		out.Result, out.Reason = aerr.result, aerr.reason
	}
	return out
}

// stoppedReason is the Reason of a check stopped by its context's end.
func stoppedReason(ctxErr error) string {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return "check stopped: time is up"
	}
	return "check stopped: canceled"
}

// The kinds of ARC header fields, and the order in which each set is
// hashed for its seal (RFC 8617 §5.1.1).
const (
	aarField  = "ARC-Authentication-Results"
	amsField  = "ARC-Message-Signature"
	sealField = "ARC-Seal"
)

// arcField is one ARC header field of a message.
type arcField struct {
	kind     string // aarField, amsField or sealField
	text     string // as written, CRLF line ends
	instance int    // its i=; 0 if it has none that can be read
	tags     tagList
	err      error // why the tags of an AMS or seal cannot be read
}

// arcChain is the ARC header fields of a message, in header order.
type arcChain struct {
	fields  []arcField
	highest int // the highest instance read
}

// arcKind returns the kind of ARC field that name names, or "".
func arcKind(name string) string {
	for _, k := range []string{aarField, amsField, sealField} {
		if strings.EqualFold(name, k) {
			return k
		}
	}
	return ""
}

// readChain collects the ARC header fields of h and reads their
// instances and tags.
func readChain(h []headerField) arcChain {
	var ch arcChain
	for _, f := range h {
		kind := arcKind(f.name)
		if kind == "" {
			continue
		}
		af := arcField{kind: kind, text: f.text}
		_, value, _ := strings.Cut(f.text, ":")
		if kind == aarField {
			af.instance, _ = aarInstance(value)
		} else {
			af.tags, af.err = parseTagList(value)
			if af.err == nil {
				af.instance, _ = parseInstance(af.tags["i"])
			}
		}
		ch.highest = max(ch.highest, af.instance)
		ch.fields = append(ch.fields, af)
	}
	return ch
}

// arcSet is the three fields of one instance.
type arcSet struct {
	aar, ams, seal *arcField
}

// latestFailed reports whether an ARC-Seal of the highest instance says
// cv=fail (RFC 8617 §5.2 step 2).
func (ch *arcChain) latestFailed() bool {
	for _, f := range ch.fields {
		if f.kind == sealField && f.instance == ch.highest && f.instance > 0 &&
			strings.EqualFold(f.tags["cv"], "fail") {
			return true
		}
	}
	return false
}

// validate checks the chain's structure (RFC 8617 §5.2 steps 1 to 3) and
// returns its sets, i=1 first.
func (ch *arcChain) validate() ([]arcSet, *arcError) {
	if ch.highest > maxInstance {
		return nil, chainFail("instance i=%d above %d", ch.highest, maxInstance)
	}
	if ch.latestFailed() {
		return nil, chainFail("ARC-Seal i=%d says cv=fail", ch.highest)
	}
	sets := make([]arcSet, ch.highest)
	for k := range ch.fields {
		f := &ch.fields[k]
		if f.instance == 0 && f.err != nil {
			return nil, chainFail("%s: %v", f.kind, f.err)
		}
		if f.instance == 0 {
			return nil, chainFail("%s without a valid i=", f.kind)
		}
		set := &sets[f.instance-1]
		slot := map[string]**arcField{aarField: &set.aar, amsField: &set.ams, sealField: &set.seal}[f.kind]
		if *slot != nil {
			return nil, chainFail("two %s fields with i=%d", f.kind, f.instance)
		}
		*slot = f
	}
	for k, set := range sets {
		i := k + 1
		switch {
		case set.aar == nil && set.ams == nil && set.seal == nil:
			return nil, chainFail("ARC set i=%d missing", i)
		case set.aar == nil:
			return nil, chainFail("no %s with i=%d", aarField, i)
		case set.ams == nil:
			return nil, chainFail("no %s with i=%d", amsField, i)
		case set.seal == nil:
			return nil, chainFail("no %s with i=%d", sealField, i)
		}
		cv := strings.ToLower(set.seal.tags["cv"])
		switch {
		case i == 1 && cv != "none":
			return nil, chainFail("ARC-Seal i=1 says cv=%s, not none", truncate(cv, 10))
		case i > 1 && cv != "pass":
			return nil, chainFail("ARC-Seal i=%d says cv=%s, not pass", i, truncate(cv, 10))
		}
		if _, ok := set.seal.tags["h"]; ok {
			return nil, chainFail("ARC-Seal i=%d has an h= tag", i)
		}
	}
	return sets, nil
}

// signature is what the verifications of an AMS and a seal share: the
// checked tags of their field.
type signature struct {
	alg      string
	domain   string
	selector string
	b        []byte
}

// readSignature checks the tags that both an AMS and a seal have (RFC
// 8617 §4.1.2, §4.1.3): a=, b=, d=, s=.
func readSignature(f *arcField) (*signature, *arcError) {
	name := fmt.Sprintf("%s i=%d", f.kind, f.instance)
	if f.err != nil {
		return nil, chainFail("%s: %v", name, f.err)
	}
	for _, t := range []string{"a", "b", "d", "s"} {
		if _, ok := f.tags[t]; !ok {
			return nil, chainFail("%s has no %s= tag", name, t)
		}
	}
	alg, err := arcAlgorithm(f.tags["a"])
	if err != nil {
		return nil, chainFail("%s: %v", name, err)
	}
	b, err := base64.StdEncoding.DecodeString(stripFWS(f.tags["b"]))
	if err != nil || len(b) == 0 {
		return nil, chainFail("%s: b= is not base64", name)
	}
	sig := &signature{alg: alg, domain: stripFWS(f.tags["d"]), selector: stripFWS(f.tags["s"]), b: b}
	if sig.domain == "" || sig.selector == "" {
		return nil, chainFail("%s has an empty d= or s=", name)
	}
	return sig, nil
}

// check verifies sig over digest with its key.
func (sig *signature) check(f *arcField, digest []byte, keys *keyLookup) *arcError {
	key, aerr := keys.key(sig.selector, sig.domain)
	if aerr != nil {
		return &arcError{result: aerr.result, reason: fmt.Sprintf("%s i=%d: %s", f.kind, f.instance, aerr.reason)}
	}
	if err := key.verify(sig.alg, digest, sig.b); err != nil {
		return chainFail("%s i=%d of %s: %v", f.kind, f.instance, truncate(sig.domain, 80), err)
	}
	return nil
}

// verifyAMS checks the ARC-Message-Signature ams of the message whose
// header is h and whose body body holds (RFC 8617 §5.2 step 4). The key
// is looked up before the body is read.
func verifyAMS(ams *arcField, h []headerField, body io.Reader, keys *keyLookup) *arcError {
	name := fmt.Sprintf("%s i=%d", ams.kind, ams.instance)
	sig, aerr := readSignature(ams)
	if aerr != nil {
		return aerr
	}
	for _, t := range []string{"bh", "h"} {
		if _, ok := ams.tags[t]; !ok {
			return chainFail("%s has no %s= tag", name, t)
		}
	}
	if _, ok := ams.tags["l"]; ok {
		return chainFail("%s has a body length l=, which is not accepted", name)
	}
	headerRelaxed, bodyRelaxed, ok := readCanonicalization(ams.tags["c"])
	if !ok {
		return chainFail("%s: unknown canonicalization c=%s", name, truncate(ams.tags["c"], 30))
	}
	names := headerNames(ams.tags["h"])
	if !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, "From") }) {
		return chainFail("%s does not sign From", name)
	}
	if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, sealField) }) {
		return chainFail("%s signs ARC-Seal", name)
	}
	bh, err := base64.StdEncoding.DecodeString(stripFWS(ams.tags["bh"]))
	if err != nil {
		return chainFail("%s: bh= is not base64", name)
	}
	if _, aerr := keys.key(sig.selector, sig.domain); aerr != nil {
		return &arcError{result: aerr.result, reason: name + ": " + aerr.reason}
	}
	got, err := hashBody(body, bodyRelaxed)
	if err != nil {
		return &arcError{result: TempError, reason: "reading the body failed"}
	}
	if string(got) != string(bh) {
		return chainFail("%s: body hash did not verify", name)
	}
	return sig.check(ams, signedHeaderHash(pickFields(h, names), ams.text, headerRelaxed), keys)
}

// readCanonicalization reads a c= tag (RFC 6376 §3.5): header and body
// canonicalization, each simple or relaxed, simple when left out.
func readCanonicalization(c string) (headerRelaxed, bodyRelaxed, ok bool) {
	head, body, _ := strings.Cut(strings.ToLower(stripFWS(c)), "/")
	read := func(s string) (relaxed, ok bool) {
		switch s {
		case "", "simple":
			return false, true
		case "relaxed":
			return true, true
		}
		return false, false
	}
	headerRelaxed, ok1 := read(head)
	bodyRelaxed, ok2 := read(body)
	return headerRelaxed, bodyRelaxed, ok1 && ok2 && (head != "" || c == "")
}

// sealedFields returns the texts a seal over sets signs before itself:
// each set's ARC-Authentication-Results, ARC-Message-Signature and
// ARC-Seal in instance order, then the last set's AAR and AMS (RFC 8617
// §5.1.1).
func sealedFields(sets []arcSet) []string {
	var fields []string
	for _, s := range sets {
		fields = append(fields, s.aar.text, s.ams.text, s.seal.text)
	}
	return fields[:len(fields)-1]
}

// verifySeal checks the ARC-Seal of the last of sets, which covers them
// all (RFC 8617 §5.2 step 7).
func verifySeal(sets []arcSet, keys *keyLookup) *arcError {
	seal := sets[len(sets)-1].seal
	sig, aerr := readSignature(seal)
	if aerr != nil {
		return aerr
	}
	return sig.check(seal, signedHeaderHash(sealedFields(sets), seal.text, true), keys)
}
