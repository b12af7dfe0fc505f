-- The desk's e-mail channel (sqlite). Keep in step with ../postgres/0007_email.sql.

-- Every message in or out, once per Message-ID (the unique index is what stores a message
-- delivered twice once, and recognises our own outgoing mail coming back).
-- direction: in | out. outcome: in → ticket | ignored; out → queued | sent | failed | suppressed.
CREATE TABLE email_messages (
    id              INTEGER PRIMARY KEY,
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    message_id      TEXT NOT NULL,
    ticket_id       BIGINT REFERENCES tickets (id),
    from_address    TEXT,
    to_address      TEXT,
    subject         TEXT,
    in_reply_to     TEXT,
    refs            TEXT,
    auto_reply      BIGINT NOT NULL DEFAULT 0,
    body            TEXT,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE UNIQUE INDEX email_messages_by_message_id ON email_messages (message_id);
CREATE INDEX email_messages_by_ticket ON email_messages (ticket_id, id);
CREATE INDEX email_messages_auto_by_recipient ON email_messages (to_address, created_at);

-- Inbound messages that could not be read: kept raw with the error for a person.
CREATE TABLE email_quarantine (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,
    error        TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    raw          BLOB NOT NULL,
    received_at  BIGINT NOT NULL
);

-- Attachments of inbound messages. data is NULL when the file was refused (reason says why).
CREATE TABLE email_attachments (
    id             INTEGER PRIMARY KEY,
    email_id       BIGINT NOT NULL REFERENCES email_messages (id),
    ticket_id      BIGINT REFERENCES tickets (id),
    filename       TEXT,
    content_type   TEXT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    data           BLOB,
    refused_reason TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX email_attachments_by_ticket ON email_attachments (ticket_id, id);

-- Where the IMAP fetch stands per mailbox: a restart fetches nothing twice.
CREATE TABLE imap_state (
    mailbox       TEXT PRIMARY KEY,
    uid_validity  BIGINT NOT NULL,
    last_uid      BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
