package smtpd

import (
	"context"
	"io"
)

// ConnectHandler decides whether to talk to a client, before the greeting.
// Returning an error refuses the client: it gets the error's reply and the
// connection is closed; the server goes on accepting others. Return
// ErrAccessDenied (554 5.7.1) to turn a client away; an error that is not an
// *Error is logged and answered 421 4.3.0, the only temporary reply allowed
// before the greeting (RFC 5321 §4.3.2). The package documentation says
// what all handlers share: their context, goroutine and panics.
type ConnectHandler interface {
	Connect(ctx context.Context, c *Conn) error
}

// MailHandler is asked about MAIL FROM. Returning an error refuses the sender.
// It runs after the server's own checks (syntax, SIZE, Server.FreeSpace); a
// session may make it run Server.MaxEmptyTransactions times without
// delivering a message, whatever it answers.
type MailHandler interface {
	Mail(ctx context.Context, env *Envelope) error
}

// RcptHandler is asked about each RCPT TO. Returning nil accepts the
// recipient, who is then appended to env.Rcpt. It is the server's relay
// protection: a Server without one does not start.
type RcptHandler interface {
	Rcpt(ctx context.Context, env *Envelope, to string) error
}

// DataHandler receives the message of a transaction. r yields the message
// as CRLF-terminated, dot-unstuffed lines, with the server's Received header
// first. Returning nil means the message is safely stored: the client is told
// 250 and will forget it. r returns an error (an *Error such as
// ErrMessageTooLarge) instead of io.EOF when the message is bad; a handler
// that passes that error up commits nothing. When a middleware before the
// handler has spooled the message, r can be read again from its first
// byte without another copy: Reread(r) reports whether it can and returns
// a new reader.
type DataHandler interface {
	Data(ctx context.Context, env *Envelope, r io.Reader) error
}

// ConnectFunc adapts a function to ConnectHandler.
type ConnectFunc func(ctx context.Context, c *Conn) error

// Connect calls f(ctx, c).
func (f ConnectFunc) Connect(ctx context.Context, c *Conn) error { return f(ctx, c) }

// MailFunc adapts a function to MailHandler.
type MailFunc func(ctx context.Context, env *Envelope) error

// Mail calls f(ctx, env).
func (f MailFunc) Mail(ctx context.Context, env *Envelope) error { return f(ctx, env) }

// RcptFunc adapts a function to RcptHandler.
type RcptFunc func(ctx context.Context, env *Envelope, to string) error

// Rcpt calls f(ctx, env, to).
func (f RcptFunc) Rcpt(ctx context.Context, env *Envelope, to string) error { return f(ctx, env, to) }

// DataFunc adapts a function to DataHandler.
type DataFunc func(ctx context.Context, env *Envelope, r io.Reader) error

// Data calls f(ctx, env, r).
func (f DataFunc) Data(ctx context.Context, env *Envelope, r io.Reader) error { return f(ctx, env, r) }

// Middleware wraps a DataHandler with work done before or after it, like
// net/http middleware: checking, annotating or spooling the message.
type Middleware func(next DataHandler) DataHandler

// Chain returns h wrapped in the middleware, the first one outermost:
// Chain(h, a, b) runs a, then b, then h.
func Chain(h DataHandler, middleware ...Middleware) DataHandler {
	return chain(h, middleware)
}

// ConnectMiddleware wraps a ConnectHandler, as Middleware wraps a
// DataHandler: a cheap check that turns a client away before a costly one
// runs, say.
type ConnectMiddleware func(next ConnectHandler) ConnectHandler

// ChainConnect returns h wrapped in the middleware, the first one
// outermost. A nil h accepts every client.
func ChainConnect(h ConnectHandler, middleware ...ConnectMiddleware) ConnectHandler {
	if h == nil {
		h = ConnectFunc(func(context.Context, *Conn) error { return nil })
	}
	return chain(h, middleware)
}

// MailMiddleware wraps a MailHandler, as Middleware wraps a DataHandler:
// refusing a sender domain before the SPF check's DNS lookups run, say.
type MailMiddleware func(next MailHandler) MailHandler

// ChainMail returns h wrapped in the middleware, the first one outermost:
// ChainMail(nil, a, b) runs a, then b. A nil h accepts every sender.
func ChainMail(h MailHandler, middleware ...MailMiddleware) MailHandler {
	if h == nil {
		h = MailFunc(func(context.Context, *Envelope) error { return nil })
	}
	return chain(h, middleware)
}

// RcptMiddleware wraps a RcptHandler, as Middleware wraps a DataHandler.
type RcptMiddleware func(next RcptHandler) RcptHandler

// ChainRcpt returns h wrapped in the middleware, the first one outermost.
// h decides which recipients exist, as Server.Rcpt does; a nil h refuses
// every recipient with ErrRelayDenied, so that a chain never relays by
// accident.
func ChainRcpt(h RcptHandler, middleware ...RcptMiddleware) RcptHandler {
	if h == nil {
		h = RcptFunc(func(context.Context, *Envelope, string) error { return ErrRelayDenied })
	}
	return chain(h, middleware)
}

// chain wraps h in the middleware, the first one outermost.
func chain[H any, M ~func(H) H](h H, middleware []M) H {
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return h
}
