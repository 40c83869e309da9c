-- Version 1: messages, their bytes in chunks, and one entry per mailbox.

-- One row per message stored: what List shows of it. Its bytes are in
-- mail_chunks; a message no entry refers to is deleted with its chunks.
CREATE TABLE mail_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received      timestamptz NOT NULL,
    envelope_from text NOT NULL,
    size          bigint NOT NULL DEFAULT 0,
    header_from   text NOT NULL DEFAULT '',
    subject       text NOT NULL DEFAULT ''
);

-- The message's bytes in order, seq 0, 1, ...: pieces of at most 256 KiB,
-- so that neither writing nor reading holds a whole message in memory.
CREATE TABLE mail_chunks (
    message bigint NOT NULL REFERENCES mail_messages ON DELETE CASCADE,
    seq     integer NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (message, seq)
);

-- A message in a mailbox's folder. No ON DELETE CASCADE: a message is
-- deleted only once no entry refers to it, and a race that would drop an
-- entry fails instead.
CREATE TABLE mail_entries (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message  bigint NOT NULL REFERENCES mail_messages,
    mailbox  text NOT NULL,
    folder   text NOT NULL,
    received timestamptz NOT NULL,
    seen     boolean NOT NULL DEFAULT false,
    UNIQUE (message, mailbox)
);

-- List: a folder newest first, paged by (received, id).
CREATE INDEX mail_entries_list ON mail_entries (mailbox, folder, received DESC, id DESC);
