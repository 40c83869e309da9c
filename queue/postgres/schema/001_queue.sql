-- The queue's tables. Every name starts with ownmx_queue_, so that the
-- queue can share a database (and tern's advisory lock) with other users,
-- such as store/postgres, under a version table of its own.

-- Message IDs count from the nanosecond at which the schema was made, so
-- that a database made anew never hands out an ID that an earlier one
-- gave (a webhook receiver remembers Attempt.IDs to spot repeats).
CREATE SEQUENCE ownmx_queue_message_id;
SELECT setval('ownmx_queue_message_id', (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);

CREATE TABLE ownmx_queue_message (
	id        bigint PRIMARY KEY,
	committed timestamptz NOT NULL,
	-- since is when the message's lifetime began: its commit or its
	-- last replay.
	since     timestamptz NOT NULL,
	-- dead is when the message became a dead letter; NULL while it waits.
	dead      timestamptz,
	envelope  jsonb NOT NULL,
	size      bigint NOT NULL
);

-- The message as received, in chunks of the same size but the last.
CREATE TABLE ownmx_queue_chunk (
	message bigint NOT NULL REFERENCES ownmx_queue_message ON DELETE CASCADE,
	seq     integer NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY (message, seq)
);

CREATE TABLE ownmx_queue_delivery (
	message  bigint NOT NULL REFERENCES ownmx_queue_message ON DELETE CASCADE,
	idx      integer NOT NULL,
	action   text NOT NULL,
	rcpt     jsonb NOT NULL,
	state    text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
	tries    integer NOT NULL DEFAULT 0,
	failures integer NOT NULL DEFAULT 0,
	-- due is when a pending delivery may next be taken: its next try
	-- while nobody holds it, the end of the lease while a worker does.
	due      timestamptz NOT NULL,
	error    text NOT NULL DEFAULT '',
	-- lease and owner name the current lease and its worker; NULL when
	-- the delivery is not being tried. A lease number is drawn at random
	-- at each take (not from a sequence, whose numbers a crash may hand
	-- out again, takes committing without waiting for their flush): only
	-- the holder of the current one may record the try's result.
	lease    bigint,
	owner    text,
	PRIMARY KEY (message, idx)
);

CREATE INDEX ownmx_queue_delivery_due ON ownmx_queue_delivery (due) WHERE state = 'pending';
