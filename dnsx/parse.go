package dnsx

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// spfRecord is what Check learns from an SPF record.
type spfRecord struct {
	all         string // qualifier of the "all" mechanism ("+", "-", "~", "?"), or "" without one
	lookups     int    // terms that cost a DNS lookup, at this level (RFC 7208 §4.6.4)
	hasRedirect bool
}

// isSPF reports whether txt is an SPF record: "v=spf1" alone or followed by
// a space (RFC 7208 §4.5), the version compared without regard to case.
func isSPF(txt string) bool {
	return strings.EqualFold(txt, "v=spf1") ||
		(len(txt) > 6 && strings.EqualFold(txt[:6], "v=spf1") && txt[6] == ' ')
}

// parseSPF checks the syntax of an SPF record (RFC 7208 §12) and returns
// what Check needs of it. It does not follow include or redirect.
func parseSPF(txt string) (spfRecord, error) {
	var rec spfRecord
	var seen = map[string]bool{}
	for _, term := range strings.Fields(txt)[1:] {
		lower := strings.ToLower(term)
		if name, value, ok := strings.Cut(lower, "="); ok && isModifierName(name) {
			// RFC 7208 §6: redirect and exp at most once each.
			if (name == "redirect" || name == "exp") && seen[name] {
				return rec, fmt.Errorf("%s= appears more than once", name)
			}
			seen[name] = true
			if (name == "redirect" || name == "exp") && !validDomainSpec(value) {
				return rec, fmt.Errorf("%q: bad domain", term)
			}
			if name == "redirect" {
				rec.hasRedirect = true
				rec.lookups++
			}
			continue
		}
		qualifier := "+"
		if strings.ContainsAny(lower[:1], "+-~?") {
			qualifier, lower = lower[:1], lower[1:]
		}
		mech, arg, hasArg := strings.Cut(lower, ":")
		if !hasArg {
			mech, arg, hasArg = cutCIDR(lower)
		}
		switch mech {
		case "all":
			if hasArg {
				return rec, fmt.Errorf("%q: all takes no argument", term)
			}
			if rec.all == "" {
				rec.all = qualifier
			}
		case "include", "exists":
			if !hasArg || !validDomainSpec(arg) {
				return rec, fmt.Errorf("%q: %s needs a domain", term, mech)
			}
			rec.lookups++
		case "a", "mx", "ptr":
			domain, cidr := arg, ""
			if i := strings.IndexByte(arg, '/'); i >= 0 {
				domain, cidr = arg[:i], arg[i:]
			}
			if hasArg && domain != "" && !validDomainSpec(domain) {
				return rec, fmt.Errorf("%q: bad domain", term)
			}
			if cidr != "" && (mech == "ptr" || !validDualCIDR(cidr)) {
				return rec, fmt.Errorf("%q: bad prefix length", term)
			}
			rec.lookups++
		case "ip4", "ip6":
			if !hasArg || !validNetwork(mech, arg) {
				return rec, fmt.Errorf("%q: bad %s network", term, mech)
			}
		default:
			return rec, fmt.Errorf("%q: unknown mechanism", term)
		}
	}
	return rec, nil
}

// cutCIDR splits "a/24" into "a", "/24".
func cutCIDR(s string) (mech, cidr string, found bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:], true
	}
	return s, "", false
}

// isModifierName reports whether s is an SPF modifier name (RFC 7208 §12).
func isModifierName(s string) bool {
	if s == "" || !('a' <= s[0] && s[0] <= 'z') {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validDomainSpec accepts a domain name or a macro-string (RFC 7208 §7.1),
// whose expansions it does not check.
func validDomainSpec(s string) bool {
	if s == "" {
		return false
	}
	if strings.Contains(s, "%") {
		return true
	}
	_, ok := dns.IsDomainName(s)
	return ok && strings.Contains(strings.TrimSuffix(s, "."), ".")
}

// validDualCIDR accepts "/n", "//m" and "/n//m" (RFC 7208 §5.6).
func validDualCIDR(s string) bool {
	v4, v6, _ := strings.Cut(s, "//")
	if v4 != "" && !validPrefix(strings.TrimPrefix(v4, "/"), 32) {
		return false
	}
	if strings.Contains(s, "//") && !validPrefix(v6, 128) {
		return false
	}
	return strings.HasPrefix(s, "/")
}

func validPrefix(s string, maxBits int) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= maxBits && s == strconv.Itoa(n)
}

// validNetwork accepts an ip4 or ip6 mechanism's address with an optional
// prefix length.
func validNetwork(mech, s string) bool {
	addr, bits, hasBits := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" || (mech == "ip4") != ip.Is4() {
		return false
	}
	return !hasBits || validPrefix(bits, ip.BitLen())
}

// tags parses a tag-list of DKIM (RFC 6376 §3.2) and DMARC (RFC 7489 §6.4)
// records: "name=value" pairs separated by ";". Names are lowercased; a
// repeated tag is an error.
func tags(txt string) ([][2]string, error) {
	var out [][2]string
	seen := map[string]bool{}
	for _, spec := range strings.Split(txt, ";") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not name=value", spec)
		}
		if seen[name] {
			return nil, fmt.Errorf("tag %s= appears twice", name)
		}
		seen[name] = true
		out = append(out, [2]string{name, strings.TrimSpace(value)})
	}
	return out, nil
}

// isDMARC reports whether txt starts with the DMARC version tag, the test
// RFC 7489 §6.6.3 uses to discard other TXT records.
func isDMARC(txt string) bool {
	name, value, ok := strings.Cut(strings.SplitN(txt, ";", 2)[0], "=")
	return ok && strings.TrimSpace(name) == "v" && strings.TrimSpace(value) == "DMARC1"
}

// parseDMARC checks a DMARC record (RFC 7489 §6.3) and returns its p= policy.
func parseDMARC(txt string) (policy string, err error) {
	ts, err := tags(txt)
	if err != nil {
		return "", err
	}
	for _, t := range ts {
		switch name, value := t[0], t[1]; name {
		case "p", "sp":
			if value != "none" && value != "quarantine" && value != "reject" {
				return "", fmt.Errorf("%s=%s is not none, quarantine or reject", name, value)
			}
			if name == "p" {
				policy = value
			}
		case "adkim", "aspf":
			if value != "r" && value != "s" {
				return "", fmt.Errorf("%s=%s is not r or s", name, value)
			}
		case "pct":
			if !validPrefix(value, 100) {
				return "", fmt.Errorf("pct=%s is not a number from 0 to 100", value)
			}
		}
	}
	if policy == "" {
		return "", fmt.Errorf("no p= tag")
	}
	return policy, nil
}

// parseDKIMKey checks a DKIM key record (RFC 6376 §3.6.1) and describes the
// key it holds, such as "rsa 2048-bit".
func parseDKIMKey(txt string) (string, error) {
	ts, err := tags(txt)
	if err != nil {
		return "", err
	}
	keyType, key, hasKey := "rsa", "", false
	for i, t := range ts {
		switch name, value := t[0], t[1]; name {
		case "v":
			if i != 0 || value != "DKIM1" {
				return "", fmt.Errorf("v=%s: must be DKIM1 and come first", value)
			}
		case "k":
			keyType = value
		case "p":
			key, hasKey = strings.Join(strings.Fields(value), ""), true
		}
	}
	if !hasKey {
		return "", fmt.Errorf("no p= tag")
	}
	if key == "" {
		return "", fmt.Errorf("the key is revoked (empty p=)")
	}
	der, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("p= is not base64: %v", err)
	}
	switch keyType {
	case "rsa":
		var pub *rsa.PublicKey
		if k, err := x509.ParsePKIXPublicKey(der); err == nil {
			pub, _ = k.(*rsa.PublicKey)
		} else if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
			pub = k
		}
		if pub == nil {
			return "", fmt.Errorf("p= is not an RSA public key")
		}
		// RFC 8301 §3.2: keys under 1024 bits must not be accepted.
		if bits := pub.N.BitLen(); bits < 1024 {
			return "", fmt.Errorf("the RSA key has %d bits, fewer than 1024 (RFC 8301 §3.2)", bits)
		}
		return fmt.Sprintf("rsa %d-bit", pub.N.BitLen()), nil
	case "ed25519":
		// RFC 8463 §4.2: the raw 32-byte public key.
		if len(der) != ed25519.PublicKeySize {
			return "", fmt.Errorf("the ed25519 key has %d bytes, not %d", len(der), ed25519.PublicKeySize)
		}
		return "ed25519", nil
	default:
		return "", fmt.Errorf("k=%s is not rsa or ed25519", keyType)
	}
}
