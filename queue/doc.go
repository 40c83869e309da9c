// Package queue is the durable hand-off between accepting a message and
// acting on it: Add commits a message once, with the deliveries (actions)
// it fans out to, and Run runs each delivery with a Runner until it is
// done or dead, across retries, restarts and crashes. Queue is the
// embedded implementation, in a local directory.
//
// # Layout on disk
//
// The queue's directory holds:
//
//	tmp/            state files being written (and messages, without
//	                O_TMPFILE); removed by Open
//	queue/ID        a waiting message: a header line of JSON (commit time,
//	                envelope, deliveries), then the message as received
//	queue/ID.state  its deliveries' states (JSON), once a try has ended
//	dead/ID         a dead letter, moved from queue/ with its state file
//	dead/ID.state
//	lock            flocked by the Queue that has the directory open
//	kick            IDs that other processes changed, for the running queue
//
// An ID is the commit time in Unix nanoseconds as 16 hexadecimal digits:
// IDs sort in commit order and are never reused. Delivery i of message ID
// is tried as Attempt.ID "ID.i", on every try, after a crash and after a
// replay, so that a receiver can tell a repeat.
//
// # Durability
//
// Add returns only once the message is on disk: its file is written
// without a name in queue/ (O_TMPFILE, on Linux; in tmp/ elsewhere),
// flushed, given its name in queue/ (linked, or renamed from tmp/), and
// queue/ is flushed; concurrent Adds share those directory flushes (group
// commit). A server answers 250
// after Add returns, the rule of store.Maildir. A failed Add leaves
// nothing.
//
// The due deliveries of a message run at once, and their results are
// recorded together once they have all returned. When every delivery is
// done, the message is removed: the removal is the done record, and no
// state file is written. No crash of the process can undo a removal; a
// power loss can, until queue/ is flushed, which happens within 20 ms,
// shared with the Adds and removals around it (a message brought back so
// is delivered again, under the same Attempt.IDs). Otherwise the state file is
// replaced whole (written in tmp/, flushed, renamed over the old one), so
// it holds the old state or the new one, and when a result made a
// delivery done or dead, queue/ is flushed too before the queue goes on.
// A delivery whose Runner returned nil and whose done record reached the
// disk never runs again. A try cut off by a crash (or
// by Run's end) is run again, under the same Attempt.ID: delivery is at
// least once. A kill at any moment loses no message that Add returned
// for, and Open finishes or undoes the moves a crash interrupted.
//
// # Retries
//
// After the n-th failure in a row a delivery waits MinBackoff·2^(n-1),
// plus up to a quarter more at random, at most MaxBackoff (defaults 30
// seconds and one hour); an error made with RetryAfter asks for a longer
// wait and gets it. Tries go on for Lifetime (default five days) after the
// message's commit or last replay: the last try is the one after which
// even the shortest wait would pass that end (or one held back to come at
// the end), and it is told so (Attempt.Final), for runners that owe the
// sender a bounce; its failure makes the delivery dead, its error the
// reason. An error made with RetryAfter that asks for a try after the end,
// or with Permanent, makes it dead at once. Each failed try and each dead
// letter is logged.
//
// # Dead letters
//
// Once every delivery of a message is done or dead, and one is dead, the
// message moves to dead/ with its state, which holds each dead delivery's
// reason. Admin.Dead lists the dead letters, Admin.Replay puts one back
// (its dead deliveries pending again, due now, a new lifetime from then,
// the same Attempt.IDs) and Admin.Delete removes it. A message whose
// deliveries are all done is removed.
//
// # Memory
//
// A waiting message costs the running queue a fixed entry of 16 bytes
// (ID and due time, no pointers) in a sorted table and one in a heap, so
// 100,000 waiting messages take under 4 MiB; its envelope and states are
// read from disk when it is due.
//
// # Operations, within and across processes
//
// Admin holds the operator's operations (those of Postfix's mailq,
// postqueue and postsuper): List, Dead, Retry, RetryAll, Replay, Delete.
// Queue.Admin gives them to the process that has the queue open, whether
// it runs the queue or not; the queue sees each change at once. OpenAdmin
// gives them to any other process, such as a command-line tool, while a
// server runs the queue: an operation takes the flock of the message's
// file (which a try holds too, so it waits for a try in progress), changes
// the files, and appends the message's ID to the kick file, which the
// running queue reads once a second to reload just those messages. Only
// one Queue may have a directory open (Open fails with ErrLocked). The
// locks are flock(2); on systems without it (Windows), a queue is safe for
// use by one process only.
package queue
