-- The desk's operations (SQLite): merged tickets point at their survivor, CSAT ratings with
-- their survey tokens, every use of a reply template (with the A/B variant it was chosen by)
-- and the template A/B tests. Keep in step with ../postgres/0008_desk_ops.sql.

-- Set once when the ticket is merged into another; messages threaded to it land there.
ALTER TABLE tickets ADD COLUMN merged_into BIGINT REFERENCES tickets (id);

-- A digest of what the last SLA evaluation persisted (its clock events, next timer and
-- policy): a recompute whose evaluation has the same digest has nothing new to write.
ALTER TABLE tickets ADD COLUMN sla_digest BIGINT;

-- One satisfaction rating (1-5) per ticket, and the unguessable token of its survey link.
-- A second rating replaces the first; the audit log keeps the previous value.
CREATE TABLE ticket_csat (
    ticket_id   BIGINT PRIMARY KEY REFERENCES tickets (id),
    token       TEXT NOT NULL UNIQUE,
    rating      BIGINT CHECK (rating BETWEEN 1 AND 5),
    rated_at    BIGINT,
    rated_by    TEXT,
    created_at  BIGINT NOT NULL
);

-- A test over variants of one template key; at most one test runs per key.
CREATE TABLE ab_tests (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    template_key  TEXT NOT NULL,
    variants      TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    stopped_at    BIGINT
);
CREATE UNIQUE INDEX ab_tests_running ON ab_tests (template_key) WHERE stopped_at IS NULL;

-- Which variant of a running test a ticket got, recorded the first time the template is
-- used on it (assignment is a deterministic function of test and ticket).
CREATE TABLE ab_assignments (
    test_id      BIGINT NOT NULL REFERENCES ab_tests (id),
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    variant      TEXT NOT NULL,
    template     TEXT NOT NULL,
    assigned_at  BIGINT NOT NULL,
    PRIMARY KEY (test_id, ticket_id)
);

-- Every template rendered onto a ticket (the template key actually used), for CSAT per template.
CREATE TABLE template_uses (
    id            INTEGER PRIMARY KEY,
    ticket_id     BIGINT NOT NULL REFERENCES tickets (id),
    template_key  TEXT NOT NULL,
    used_at       BIGINT NOT NULL
);
CREATE INDEX template_uses_by_ticket ON template_uses (ticket_id);
CREATE INDEX tickets_by_created ON tickets (created_at);
-- A ticket's SLA events by ticket (the unique indexes above are partial, so they do not serve
-- `WHERE ticket_id = $1`, which every re-evaluation runs).
CREATE INDEX sla_events_by_ticket ON sla_events (ticket_id, id);
