// Package smtpd is an SMTP server for receiving mail (RFC 5321), safe by
// default.
//
// A Server asks its handlers at each stage of a session, as net/http asks
// a Handler: Connect before the greeting, Mail at MAIL FROM, Rcpt at each
// RCPT TO (required: it is the relay protection, see AcceptDomains) and
// Data with the message (required). A handler refuses by returning an
// *Error, whose code, enhanced code and text the client hears; any other
// error is answered 451 4.3.0 and logged, never shown. Middleware wraps
// the Data handler (Chain), and Spool lets one read the message more than
// once. Every limit has a documented default: a zero field means it, a
// negative one means no limit.
//
// # Handlers
//
// The handlers of a Server share these rules:
//
//   - ctx is the connection's context: the same for every handler called on
//     one connection, in every transaction, and cancelled when the
//     connection closes (QUIT, a 421, the client gone, Server.Close), not
//     before. It has no deadline of its own; a handler that waits on the
//     network bounds the wait itself.
//   - A handler runs on the connection's goroutine, and the session waits
//     for it; handlers of different connections run at once.
//   - A panic in a handler is recovered: the client gets 421 4.3.0, the
//     connection is closed, the log gets the panic and its stack, and the
//     server goes on serving the others.
//   - A refusal is an *Error (or wraps one) with a code from 400 to 599;
//     any other error is logged at WARN and answered 451 4.3.0.
//   - What a Connect handler learns about a client can be kept on the
//     connection (Conn.SetValue) for the later stages; what one stage of
//     a transaction leaves for the next goes on the Envelope.
//
// # How a session runs
//
// Serve accepts connections in a loop, as net/http does: the listeners it
// serves are tracked under the Server's lock, so Shutdown and Close find
// every one, and a Serve that starts after them returns ErrServerClosed at
// once; an accept error that may pass is retried after a pause that
// doubles up to a second. Each accepted connection is counted against
// MaxConnections and MaxConnectionsPerIP and gets its own goroutine,
// which runs conn.serve from start to end. Nothing else touches the
// session's state: other goroutines only close the connection (Close) or
// move its read deadline (Shutdown, overload), never read or write it.
//
// conn.serve is one loop. It greets (after the caps and the Connect
// handler have had their say), then reads a command line, splits off its
// verb and calls that verb's method (hello, mail, rcpt, data, rset,
// startTLS, ...) from one switch in conn.command. Each method checks the
// command against RFC 5321 with the parse functions, asks the handler, and
// answers with c.reply. The loop ends after QUIT, after any 421 (RFC 5321
// §3.8: a 421, the server's or a handler's, is the last reply), when the
// client goes away or a deadline passes, or on Shutdown between
// transactions.
//
// Reading goes through a bufio.Reader over socketReader, which puts a
// deadline on each line: a line must arrive whole within ReadTimeout of
// the previous one or of the server's last reply, a message within
// DataTimeout, a session within SessionTimeout. After DATA, the message is
// read by a dataReader that hands the Data handler its text, dot-stuffing
// removed, and ends only at CR LF "." CR LF: a "." after a bare LF or CR
// is text, so nothing inside a message can pass for a command (SMTP
// smuggling). Whatever the handler does, the message is read to its end
// before the reply; a connection that fails inside it gets 421.
//
// Replies go into a bufio.Writer and leave in one write when the server
// would otherwise wait for the client: socketReader flushes before every
// read of the socket. A client that pipelines (RFC 2920) has its next
// command buffered already, so the replies to a whole group leave
// together, one TLS record after STARTTLS; a client that waits gets each
// reply at once. Refusals (4xx, 5xx) count against MaxErrors, commands
// that do nothing and transactions without a message against
// MaxJunkCommands and MaxEmptyTransactions; the counts start again after
// each accepted message. Each refusal is logged with the command refused.
//
// A handler's panic is caught: the client gets 421, the log the stack,
// and the server goes on. A handler cannot turn a refusal into a success:
// an *Error with a code outside 400–599 is answered 451 and logged.
//
// Server.Observer hears of each session's events, for metrics: the
// connection opened and closed (with its CloseReason), each reply, each
// handler's time and each message accepted with its size, never an
// address or free text. Package metrics/prometheus turns them into
// Prometheus metrics; smtpd itself depends on no metrics library.
//
// Package smtptest runs a Server inside a test and talks to it.
package smtpd
