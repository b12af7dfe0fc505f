-- The attachments a message of a ticket's log carried, in order, and the SLA timer last
-- scheduled (PostgreSQL). Keep in step with ../sqlite/0018_message_attachments_sla_timer.sql.
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

-- The instant of the SLA timer the last evaluation of a ticket scheduled (microseconds; the
-- smallest BIGINT when none; NULL when unknown), written with sla_digest, which covers it: a
-- recompute whose evaluation differs from the last one only in its timer (a calendar edit
-- moved a deadline) knows the clock events stored then are still complete, so it schedules
-- the new timer without reading them.
ALTER TABLE tickets ADD COLUMN sla_timer BIGINT;
