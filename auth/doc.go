// Package auth checks where a message comes from: SPF (RFC 7208) at MAIL
// FROM, DKIM (RFC 6376) signatures after DATA, and DMARC (RFC 7489) with the
// sender domain's published policy applied, writing the results as an
// Authentication-Results header (RFC 8601).
package auth
