-- Version 2: deduplication of a message delivered twice, by Message-ID and
-- the SHA-256 of its body, across every host that shares the database.

-- The primary key makes two hosts that store the same message at once
-- agree on one: the second INSERT waits for the first to commit, then
-- meets its row.
CREATE TABLE mail_dedup (
    message_id  text NOT NULL,
    body_sha256 bytea NOT NULL,
    message     bigint NOT NULL REFERENCES mail_messages ON DELETE CASCADE,
    received    timestamptz NOT NULL,
    PRIMARY KEY (message_id, body_sha256)
);

-- For the cascade when a message is deleted.
CREATE INDEX mail_dedup_message ON mail_dedup (message);
-- For pruning the rows older than the window.
CREATE INDEX mail_dedup_received ON mail_dedup (received);
