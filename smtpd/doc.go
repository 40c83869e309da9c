// Package smtpd is an SMTP server for receiving mail, built on
// github.com/emersion/go-smtp and safe by default.
package smtpd
