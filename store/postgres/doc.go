// Package postgres is a store.Store in PostgreSQL, for several MX hosts
// that share one database: what any of them accepts lands there, and a
// server answers 250 only after the COMMIT that holds the message.
//
//	st, err := postgres.Open(ctx, "postgres://mail@db.internal/mail", &postgres.Options{
//		Domains: []string{"example.com"},
//		Users:   []string{"me"},
//	})
//	...
//	srv := &smtpd.Server{Rcpt: st, Data: store.Handler(st)}
//
// # What is stored
//
// Deliver writes, in one transaction, the message and one entry per
// mailbox among the recipients, in the folder Inbox, or Junk when the
// envelope says to quarantine it, and returns only once that transaction
// has committed with synchronous_commit on (a connection whose server or
// database turns it off has it turned on again). A delivery that fails or
// is cancelled commits nothing, so nothing of it is left.
//
// Mailboxes are named "local@domain" by the rules of store.Mailboxes: the
// "+tag" dropped, the local part lowercased, the domain in its ASCII form;
// Store.Mailbox maps an address to its name. Domains and Users say which
// mailboxes exist, as for store.Mailboxes, and Store is the
// smtpd.RcptHandler that refuses the others at RCPT TO.
//
// The bytes of a message are rows of bytea, pieces of at most 256 KiB
// (ChunkSize), written as they are read (a message of one piece with the
// INSERT of its row, a longer one with COPY) and read back one piece per
// query: neither Deliver nor the reader of Store.Open holds a whole
// message in memory, and a reader holds no connection between two pieces.
// Rows rather than large objects, because rows go with their message
// (ON DELETE CASCADE, no lo_unlink to forget), are compressed by TOAST
// like any text, and are copied by every backup and replica as they are;
// 256 KiB keeps the pieces of a 25 MiB message to a hundred while a piece
// in flight stays small next to a connection's buffers.
//
// # Duplicates
//
// A sender that lost the 250 of one MX (the connection broke after the
// COMMIT) sends the message again, often to another MX that shares the
// database. Those copies are one message: Deliver keys each message by its
// Message-ID and the SHA-256 of its body (what follows the blank line that
// ends the header, RFC 5322 §2.1: the header differs from host to host by
// its Received and Authentication-Results fields), and within DedupWindow
// a delivery whose key is already stored adds no second copy of the bytes:
// it gives the stored message an entry in each mailbox that has none yet,
// so that a recipient whose share of the message comes in a transaction of
// its own still gets it, and logs "duplicate". The key is the primary key
// of a table, so two hosts storing one message at the same moment store it
// once: the second waits for the first's COMMIT and then finds its row. A
// message without a Message-ID, or without a blank line ending its header,
// is never deduplicated. The first copy is kept, with its own trace fields.
//
// # Reading back
//
// List pages through a folder newest first, by keyset (the last entry's
// time and ID, never OFFSET), so that deliveries between two pages neither
// repeat nor skip an entry; Open streams a message's bytes; MarkSeen, Move
// (to Junk and back) and Delete change one entry, and the bytes go when
// the last entry that refers to them does.
//
// # Schema
//
// The tables (mail_messages, mail_chunks, mail_entries, mail_dedup) are
// made and kept current by numbered migrations, embedded, that Open
// applies under a PostgreSQL advisory lock, so that hosts starting at once
// migrate one at a time; the version is in the table mail_schema_version.
// A database at a version newer than this package knows is refused.
//
// # Faults
//
// Every wait for the database is bounded by ctx, and the wait for a
// connection also by Options.AcquireTimeout, so that with PostgreSQL down
// or the pool exhausted Deliver returns an error (a server answers 451)
// rather than hang. Connections broken by a restart of the server are
// replaced without reopening the Store.
package postgres
