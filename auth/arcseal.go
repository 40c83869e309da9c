package auth

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of Sealer.Seal that leave a message without a new ARC set: the
// caller forwards it as it is.
var (
	// ErrARCChainEnded: the message's chain has ended and no set may be
	// added: its most recent ARC-Seal says cv=fail (RFC 8617 §5.1), or it
	// has 50 sets, the most there may be (RFC 8617 §4.2.1).
	ErrARCChainEnded = errors.New("auth: arc: the chain has ended: no ARC set may be added")
	// ErrARCChainTempError: the chain result given to Seal is temperror;
	// sealing it with cv=fail would end a chain that may be valid. Check it
	// again later, or forward without a new set.
	ErrARCChainTempError = errors.New("auth: arc: the chain could not be checked (temperror)")
	// ErrARCChainMismatch: the chain result given to Seal does not fit the
	// message, such as none for a message with ARC header fields or
	// another highest instance: it was not Checker.ARC's of this message.
	ErrARCChainMismatch = errors.New("auth: arc: the chain result does not match the message")
)

// DefaultARCHeaders are the header fields an ARC-Message-Signature signs
// when Sealer.Headers is nil: those that say who wrote the message, to
// whom and about what, how its body is to be read, the mailing list
// fields (RFC 2369, RFC 2919, RFC 8058) and the DKIM signatures already
// present (RFC 8617 §4.1.2). Received and Return-Path are not in it: they
// are added on the way. Authentication-Results and the ARC fields never
// are (RFC 8617 §4.1.2): the next hops remove or add them.
var DefaultARCHeaders = []string{
	"From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-ID", "Content-Description",
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc",
	"Resent-Message-ID", "List-Id", "List-Help", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner",
	"List-Archive", "DKIM-Signature",
}

// Sealer adds an ARC set to messages (RFC 8617 §5.1): an
// ARC-Authentication-Results with this server's results, an
// ARC-Message-Signature over the message, and an ARC-Seal over the chain.
// Set its fields before the first Seal; it is then safe for concurrent
// use.
type Sealer struct {
	// Domain is the signing domain, d=, whose DNS publishes the key at
	// Selector._domainkey.Domain. It is written in A-labels.
	Domain string
	// Selector is the key's selector, s=.
	Selector string
	// Key signs: an *rsa.PrivateKey of 1024 bits or more (rsa-sha256;
	// 2048 is usual) or an ed25519.PrivateKey (ed25519-sha256, RFC
	// 8463), or any crypto.Signer whose public key is one of those.
	// Receivers verify ARC with rsa-sha256: dkimpy 1.1.4 knows no
	// other algorithm for ARC, so Ed25519 suits only receivers known to
	// read it.
	Key crypto.Signer
	// AuthServID is the authserv-id of the ARC-Authentication-Results
	// (RFC 8601 §2.5): this host's name.
	AuthServID string
	// Headers are the header fields the ARC-Message-Signature signs, each
	// as often as the message has it. Those that RFC 5322 §3.6 allows once
	// (From, Sender, Reply-To, To, Cc, Subject, Date, Message-ID,
	// In-Reply-To, References) are named once more, so that one added on
	// the way breaks the signature (RFC 6376 §8.15). From must be named;
	// Authentication-Results and the ARC header fields must not be (RFC
	// 8617 §4.1.2). nil means DefaultARCHeaders.
	Headers []string
	// Now tells the time of the signatures, t=. nil means time.Now.
	Now func() time.Time
	// MaxHeaderBytes bounds the size of the header Seal reads; 0 means
	// DefaultMaxHeaderBytes. Give it the value of the Checker that
	// checked the chain.
	MaxHeaderBytes int
}

// sealConfig is a Sealer's checked configuration.
type sealConfig struct {
	domain, selector, alg string
	key                   crypto.Signer
	headers               []string
}

// check returns the Sealer's configuration, or what is wrong with it.
func (s *Sealer) check() (*sealConfig, error) {
	domain, err := ASCIIDomain(s.Domain)
	if err != nil {
		return nil, fmt.Errorf("auth: arc: Sealer.Domain %q: %w", s.Domain, err)
	}
	sel, err := toASCII(s.Selector)
	if err != nil || !isDomainName(sel+".x") {
		return nil, fmt.Errorf("auth: arc: Sealer.Selector %q is not a selector", s.Selector)
	}
	if !isHostText(s.AuthServID) {
		return nil, fmt.Errorf("auth: arc: Sealer.AuthServID %q is not a host name", s.AuthServID)
	}
	sg := &sealConfig{domain: domain, selector: sel, key: s.Key, headers: s.Headers}
	switch pub := publicKey(s.Key).(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("auth: arc: Sealer.Key: RSA key of %d bits, under %d (RFC 8301 §3.2)", pub.N.BitLen(), minRSABits)
		}
		sg.alg = "rsa-sha256"
	case ed25519.PublicKey:
		sg.alg = "ed25519-sha256"
	default:
		return nil, fmt.Errorf("auth: arc: Sealer.Key is %T, not an RSA or Ed25519 key", s.Key)
	}
	if sg.headers == nil {
		sg.headers = DefaultARCHeaders
	}
	if !slices.ContainsFunc(sg.headers, func(n string) bool { return strings.EqualFold(n, "From") }) {
		return nil, errors.New("auth: arc: Sealer.Headers lacks From, which must be signed (RFC 6376 §5.4)")
	}
	for _, name := range sg.headers {
		switch {
		case !isFieldName(name):
			return nil, fmt.Errorf("auth: arc: Sealer.Headers: %q is not a header field name", name)
		case arcKind(name) != "" || strings.EqualFold(name, "Authentication-Results"):
			return nil, fmt.Errorf("auth: arc: Sealer.Headers names %s, which must not be signed (RFC 8617 §4.1.2)", name)
		}
	}
	return sg, nil
}

// isHostText reports whether s is made of ASCII letters, digits, dots,
// hyphens and underscores only: a host name that an
// ARC-Authentication-Results can hold as its authserv-id without quoting.
func isHostText(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '-', ch == '_':
		default:
			return false
		}
	}
	return true
}

// publicKey returns k's public key, or nil for a nil k.
func publicKey(k crypto.Signer) crypto.PublicKey {
	if k == nil {
		return nil
	}
	return k.Public()
}

func (s *Sealer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Sealer) maxHeaderBytes() int {
	if s.MaxHeaderBytes <= 0 {
		return DefaultMaxHeaderBytes
	}
	return s.MaxHeaderBytes
}

// Seal returns the new ARC set for msg, a whole message, as header fields
// to prepend, with CRLF line ends and folded: ARC-Seal,
// ARC-Message-Signature and ARC-Authentication-Results, in that order,
// newest on top as dkimpy and Gmail write them.
//
// res are this server's results for the message (nil: none); chain is
// what Checker.ARC said of the message's existing chain. The
// ARC-Authentication-Results holds i=, AuthServID and the results as
// Results.AuthenticationResults writes them, then arc= with chain's
// result (and its reason in a comment when it failed). The seal says
// cv=none without a chain and cv=pass or cv=fail as chain says. A seal
// with cv=fail covers only its own set (RFC 8617 §5.1.2); the others
// cover every set in the chain.
//
// The ARC-Message-Signature uses relaxed header and body canonicalization
// and signs the fields Headers names. The body is hashed as it is read,
// in memory that does not grow with it; the header is read up to
// MaxHeaderBytes (ErrHeaderTooLarge).
//
// No set is made, and the message is to be forwarded as it is, when the
// chain has ended (ErrARCChainEnded: its most recent seal says cv=fail,
// or the new set would be the 51st), when chain is temperror
// (ErrARCChainTempError), or when chain does not match the message
// (ErrARCChainMismatch). Other errors are msg's, a malformed header's
// (ErrMalformedHeader) or the Sealer's configuration's.
func (s *Sealer) Seal(msg io.Reader, res *Results, chain ARCResult) ([]byte, error) {
	sg, err := s.check()
	if err != nil {
		return nil, err
	}
	return s.seal(sg, msg, res, chain)
}

// seal is Seal with the configuration sg, checked or not.
func (s *Sealer) seal(sg *sealConfig, msg io.Reader, res *Results, chain ARCResult) ([]byte, error) {
	switch chain.Result {
	case None, Pass, Fail:
	case TempError:
		return nil, ErrARCChainTempError
	default:
		return nil, fmt.Errorf("%w: chain result %q", ErrARCChainMismatch, chain.Result)
	}
	br := bufio.NewReaderSize(msg, 32<<10)
	h, err := readRawHeader(br, s.maxHeaderBytes())
	if err != nil {
		return nil, fmt.Errorf("auth: arc: seal: %w", err)
	}
	found := readChain(h)
	sets, err := matchChain(&found, chain)
	if err != nil {
		return nil, err
	}
	bh, err := hashBody(br, true)
	if err != nil {
		return nil, fmt.Errorf("auth: arc: seal: reading the body: %w", err)
	}

	i := found.highest + 1
	t := strconv.FormatInt(s.now().Unix(), 10)
	aar := aarText(i, s.AuthServID, res, chain)

	ams := sg.amsText(i, t, h, bh, "")
	b, err := sg.sign(signedHeaderHash(pickFields(h, sg.signedNames(h)), ams, true))
	if err != nil {
		return nil, err
	}
	ams = sg.amsText(i, t, h, bh, b)

	cv := map[Result]string{None: "none", Pass: "pass", Fail: "fail"}[chain.Result]
	seal := sg.sealText(i, t, cv, "")
	// sets is empty for a failed chain: the seal covers only its own set
	// (RFC 8617 §5.1.2).
	covered := append(sets, arcSet{
		aar:  &arcField{text: aar},
		ams:  &arcField{text: ams},
		seal: &arcField{text: seal},
	})
	b, err = sg.sign(signedHeaderHash(sealedFields(covered), seal, true))
	if err != nil {
		return nil, err
	}
	seal = sg.sealText(i, t, cv, b)
	return []byte(seal + ams + aar), nil
}

// matchChain checks that chain is what Checker.ARC says of the message
// whose ARC fields are found, and that a set may be added to it. It
// returns the sets a new seal covers with its own: those of a chain that
// passes, none for a chain that failed (RFC 8617 §5.1.2) or is none.
func matchChain(found *arcChain, chain ARCResult) ([]arcSet, error) {
	if chain.Result == None {
		if len(found.fields) > 0 {
			return nil, fmt.Errorf("%w: none for a message with %d ARC header fields", ErrARCChainMismatch, len(found.fields))
		}
		return nil, nil
	}
	if len(found.fields) == 0 || chain.Instance != found.highest {
		return nil, fmt.Errorf("%w: %s at i=%d for a message whose highest instance is %d",
			ErrARCChainMismatch, chain.Result, chain.Instance, found.highest)
	}
	if found.latestFailed() {
		return nil, fmt.Errorf("%w: ARC-Seal i=%d says cv=fail", ErrARCChainEnded, found.highest)
	}
	if found.highest >= maxInstance {
		return nil, fmt.Errorf("%w: it has %d sets", ErrARCChainEnded, found.highest)
	}
	if chain.Result == Fail {
		return nil, nil
	}
	sets, aerr := found.validate()
	if aerr != nil {
		return nil, fmt.Errorf("%w: pass for a chain that is not valid: %s", ErrARCChainMismatch, aerr.reason)
	}
	return sets, nil
}

// singletons are the fields RFC 5322 §3.6 allows at most once. The
// ARC-Message-Signature names each once more than the message has it, so
// that one added on the way breaks the signature rather than being shown
// in place of the signed one (RFC 6376 §8.15).
var singletons = []string{"from", "sender", "reply-to", "to", "cc", "subject",
	"date", "message-id", "in-reply-to", "references"}

// signedNames returns the h= list for a message whose header is h: each
// of the Sealer's names as often as h has the field, in the order of the
// list, and the singletons once more.
func (sg *sealConfig) signedNames(h []headerField) []string {
	var names []string
	for _, name := range sg.headers {
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
			continue // named twice in Headers
		}
		n := 0
		for _, f := range h {
			if strings.EqualFold(f.name, name) {
				n++
			}
		}
		if slices.Contains(singletons, asciiLower(name)) {
			n++
		}
		for range n {
			names = append(names, name)
		}
	}
	return names
}

// sign signs digest, a SHA-256 hash, and returns the signature in base64.
func (sg *sealConfig) sign(digest []byte) (string, error) {
	opts := crypto.SignerOpts(crypto.SHA256)
	if sg.alg == "ed25519-sha256" {
		opts = crypto.Hash(0) // Ed25519 signs the hash itself (RFC 8463 §3)
	}
	b, err := sg.key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return "", fmt.Errorf("auth: arc: signing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// amsText writes the ARC-Message-Signature of instance i with signature
// b ("" for the text that is signed).
func (sg *sealConfig) amsText(i int, t string, h []headerField, bh []byte, b string) string {
	var f folder
	f.start(amsField)
	f.tag("i=" + strconv.Itoa(i) + ";")
	f.tag("a=" + sg.alg + ";")
	f.tag("c=relaxed/relaxed;")
	f.tag("d=" + sg.domain + ";")
	f.tag("s=" + sg.selector + ";")
	f.tag("t=" + t + ";")
	names := sg.signedNames(h)
	for k, name := range names {
		item := name + ":"
		if k == 0 {
			item = "h=" + item
		}
		if k == len(names)-1 {
			item = strings.TrimSuffix(item, ":") + ";"
		}
		f.word(item)
	}
	f.tag("bh=" + base64.StdEncoding.EncodeToString(bh) + ";")
	f.signature(b)
	return f.String()
}

// sealText writes the ARC-Seal of instance i with signature b ("" for the
// text that is signed).
func (sg *sealConfig) sealText(i int, t, cv, b string) string {
	var f folder
	f.start(sealField)
	f.tag("i=" + strconv.Itoa(i) + ";")
	f.tag("a=" + sg.alg + ";")
	f.tag("t=" + t + ";")
	f.tag("cv=" + cv + ";")
	f.tag("d=" + sg.domain + ";")
	f.tag("s=" + sg.selector + ";")
	f.signature(b)
	return f.String()
}

// aarText writes the ARC-Authentication-Results of instance i: the
// results res as Results.AuthenticationResults writes them, then arc=.
func aarText(i int, authservID string, res *Results, chain ARCResult) string {
	payload := authservID
	if res != nil && !res.Trusted {
		// A trusted client's results are "none", which no other result
		// may follow (RFC 8601 §2.2); arc= says all there is.
		payload = strings.TrimSuffix(strings.TrimPrefix(res.AuthenticationResults(authservID), "Authentication-Results: "), "\r\n")
	}
	arc := "arc=" + string(chain.Result)
	if chain.Result == Fail {
		if r := cleanText(chain.Reason); r != "" {
			arc += " (" + r + ")"
		}
	}
	return aarField + ": i=" + strconv.Itoa(i) + "; " + payload + ";\r\n\t" + arc + "\r\n"
}

// folder writes a header field folded at white space into lines of at
// most lineMax characters where it can.
type folder struct {
	b    strings.Builder
	line int // length of the current line
}

const lineMax = 78

func (f *folder) start(name string) {
	f.b.WriteString(name + ":")
	f.line = len(name) + 1
}

// tag writes a space or a fold, then s.
func (f *folder) tag(s string) {
	if f.line+1+len(s) > lineMax {
		f.b.WriteString("\r\n\t")
		f.line = 1
	} else {
		f.b.WriteByte(' ')
		f.line++
	}
	f.b.WriteString(s)
	f.line += len(s)
}

// word writes s right after what is there, or after a fold if the line
// would be too long: the parts of an h= list, which may be folded after
// each colon (RFC 6376 §3.5).
func (f *folder) word(s string) {
	if f.line == 0 || strings.HasPrefix(s, "h=") {
		f.tag(s)
		return
	}
	if f.line+len(s) > lineMax {
		f.b.WriteString("\r\n\t")
		f.line = 1
	}
	f.b.WriteString(s)
	f.line += len(s)
}

// signature writes b= with the base64 signature b on lines of its own,
// and ends the field. Folding inside the value is allowed (RFC 6376
// §3.5) and changes nothing the signature covers: the value is removed
// before hashing.
func (f *folder) signature(b string) {
	f.b.WriteString("\r\n\tb=")
	f.line = 3
	for len(b) > 0 {
		n := min(len(b), lineMax-f.line)
		if n <= 0 {
			f.b.WriteString("\r\n\t")
			f.line = 1
			continue
		}
		f.b.WriteString(b[:n])
		f.line += n
		b = b[n:]
	}
	f.b.WriteString("\r\n")
}

func (f *folder) String() string { return f.b.String() }
