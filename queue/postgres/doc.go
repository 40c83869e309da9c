// Package postgres is the queue (package queue) in a PostgreSQL database,
// for several hosts that share one: the same contract as the local
// queue.Queue (Add returns once the message is committed, Run runs each
// delivery with a queue.Runner until it is done or dead, with the same
// Attempt.IDs, backoff, lifetime and dead letters, and an Admin with the
// same operations), with any number of Queues, in any number of processes,
// running the deliveries of one database.
//
// # Tables
//
// Open brings the schema up to date with tern (github.com/jackc/tern/v2),
// under tern's advisory lock and in a version table of the queue's own,
// ownmx_queue_schema_version; every table's name starts with ownmx_queue_,
// so the database can be shared with other users (store/postgres):
//
//	ownmx_queue_message   one row per message: envelope (JSON), size,
//	                      commit time, start of its lifetime, and when it
//	                      became a dead letter (NULL while it waits)
//	ownmx_queue_chunk     the message as received, in chunks of 64 KiB
//	ownmx_queue_delivery  one row per delivery: action, recipients, state,
//	                      tries, the time it is due, its last error, and
//	                      the lease of the worker trying it
//
// A message's ID is a number from a sequence that starts at the
// nanosecond the schema was made, as 16 hexadecimal digits; delivery i of
// message ID is tried as Attempt.ID "ID.i", on every try, after a crash,
// a takeover and a replay.
//
// # Durability
//
// Add writes the message, its chunks and its deliveries in one
// transaction and returns after the COMMIT (a message that fits in one
// chunk, as most do, costs one round trip). The durability is then
// PostgreSQL's: with synchronous_commit on (the default), the commit is
// flushed to the write-ahead log before Add returns, and a server may
// answer 250.
//
// # Leases
//
// Each delivery is a job. A running Queue takes due jobs with SELECT ...
// FOR UPDATE SKIP LOCKED, in a short transaction that marks them leased
// to one of its workers until now+Lease under a new lease number; the
// Runner runs outside any transaction; the result is recorded only if the
// row still holds the worker's lease number, in a transaction that locks
// the message first, so that the last delivery to finish removes the
// message (all done) or makes it a dead letter (none pending, one dead).
// A try is cancelled when its lease ends. A Queue whose host died leaves
// its leases to end: the deliveries are then due, and another Queue
// tries them under the same Attempt.IDs and Numbers; a result that comes
// back after another worker took over is dropped, never written over the
// new owner's. Delivery is at least once. The hosts' clocks must agree
// within a small part of Lease.
//
// # Waking
//
// Once Add, Retry, RetryAll or Replay has committed, the Queue sends a
// notification on the channel ownmx_queue (one for all the changes that
// committed while it was sending the last), which each running Queue
// listens to (LISTEN/NOTIFY) on a connection of its own, reconnecting
// when it breaks. The notification is not part of the change's
// transaction: a NOTIFY holds a lock of the whole database while its
// transaction's commit is flushed, which made concurrent Adds commit one
// at a time (see BenchmarkAdd). A Queue also looks when its earliest
// pending delivery comes due and every Options.Poll, for what
// notifications cannot tell it (a retry's time, another host's lease that
// ended, a notification lost or missed while reconnecting).
//
// # Faults
//
// While PostgreSQL is unreachable, Add fails as soon as a connection
// cannot be made (or ctx ends), and Run goes on: it logs once, looks
// again every Poll, listens again with backoff, and works as before once
// the database answers, without being restarted.
package postgres
