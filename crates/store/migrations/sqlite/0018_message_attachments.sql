-- The attachments a message of a ticket's log carried, in order (SQLite). Keep in step with
-- ../postgres/0018_message_attachments.sql.
--
-- An inbound e-mail's files (stored or refused, email_attachments) and the stored files an
-- agent's reply sent along (email_outgoing_attachments) are named on the log entry of the
-- message itself, so the ticket's event log shows what each message carried.
CREATE TABLE ticket_event_attachments (
    event_id       BIGINT NOT NULL REFERENCES ticket_events (id),
    position       BIGINT NOT NULL,
    attachment_id  BIGINT NOT NULL REFERENCES email_attachments (id),
    PRIMARY KEY (event_id, position)
);
