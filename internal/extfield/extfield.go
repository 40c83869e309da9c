// Package extfield checks the extension fields that the TXT records of
// MTA-STS (RFC 8461 §3.1, and its policy file, §3.2) and SMTP TLS
// Reporting (RFC 8460 §3) share: "name=value", with the same grammar for
// the name and the value in both.
package extfield

// ValidName reports whether name is an extension field's name
// (sts-ext-name, sts-policy-ext-name, tlsrpt-ext-name): a letter or digit,
// then up to 31 letters, digits, "_", "-" and ".".
func ValidName(name string) bool {
	if name == "" || len(name) > 32 || !isLetDig(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLetDig(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// ValidValue reports whether value is an extension field's value
// (sts-ext-value, tlsrpt-ext-value): one or more printable ASCII bytes
// other than space, "=" and ";".
func ValidValue(value string) bool {
	if value == "" {
		return false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c <= ' ' || c >= 0x7f || c == '=' || c == ';' {
			return false
		}
	}
	return true
}

func isLetDig(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
