package smtpd

import (
	"errors"
	"fmt"
)

// EnhancedCode is an RFC 3463 enhanced status code such as {5, 7, 1}.
type EnhancedCode [3]int

// String returns the code in its dotted form, "5.7.1".
func (c EnhancedCode) String() string {
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// Error is an SMTP reply that a handler returns to refuse a command, bare or
// wrapped with fmt.Errorf's %w. Code and Enhanced and Message are sent to the
// client; Err, if set, is only logged.
//
// A handler error that is not an *Error (and wraps none) is answered with
// 451 4.3.0 and its text goes to the log at WARN, never to the client; an
// *Error is a refusal, logged at INFO.
type Error struct {
	Code     int          // reply code, such as 550
	Enhanced EnhancedCode // RFC 3463 code, such as {5, 7, 1}
	Message  string       // one line of text for the client
	Err      error        // the cause, logged and never sent
}

// Error returns the reply as the client sees it, followed by the cause.
func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Message)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the reply is a 4xx one: the client may try again.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// Errorf returns an *Error with the given codes and a formatted message.
func Errorf(code int, enhanced EnhancedCode, format string, args ...any) *Error {
	return &Error{Code: code, Enhanced: enhanced, Message: fmt.Sprintf(format, args...)}
}

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("smtpd: Server closed")

// Replies used by the server and useful to handlers.
var (
	// ErrAccessDenied turns a client away before the greeting.
	ErrAccessDenied = &Error{Code: 554, Enhanced: EnhancedCode{5, 7, 1}, Message: "Access denied"}
	// ErrRelayDenied refuses a recipient at a domain this server does not
	// accept mail for.
	ErrRelayDenied = &Error{Code: 550, Enhanced: EnhancedCode{5, 7, 1}, Message: "Relaying denied: this server does not accept mail for that domain"}
	// ErrNoSuchUser refuses a recipient the server does not know.
	ErrNoSuchUser = &Error{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Message: "No such user here"}
	// ErrMessageTooLarge is returned by the DATA reader when the message
	// grows past Server.MaxMessageBytes (RFC 1870).
	ErrMessageTooLarge = &Error{Code: 552, Enhanced: EnhancedCode{5, 3, 4}, Message: "Message too big for this server"}
	// ErrBareNewline is returned by the DATA reader when a line ends in a
	// bare LF or holds a bare CR (RFC 5321 §2.3.8).
	ErrBareNewline = &Error{Code: 554, Enhanced: EnhancedCode{5, 6, 0}, Message: "Message refused: a line ends in a bare CR or LF; lines must end in CRLF (RFC 5321 section 2.3.8)"}
	// ErrLoop is returned by the DATA reader when the message carries more
	// Received headers than Server.MaxReceivedHeaders (RFC 5321 §6.3).
	ErrLoop = &Error{Code: 554, Enhanced: EnhancedCode{5, 4, 6}, Message: "Routing loop detected: too many Received headers"}
)

// errInternal is what the client sees for a handler error that is not an *Error.
var errInternal = &Error{Code: 451, Enhanced: EnhancedCode{4, 3, 0}, Message: "Temporary server error, please try again later"}

// asReply returns the reply for a handler's error: the *Error it is or
// wraps, or errInternal.
func asReply(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errInternal
}
