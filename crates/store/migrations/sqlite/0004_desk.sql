-- The service desk (SQLite): tickets, their append-only event log, business calendars, SLA
-- policies and the SLA clock events persisted once. Keep in step with ../postgres/0004_desk.sql.

-- Calendars as the JSON document the API and `patron sla preview` take. Calendar 1 is the
-- desk's default; until stored it is the Taiwan preset (app::desk).
CREATE TABLE calendars (
    id          INTEGER PRIMARY KEY CHECK (id > 0),
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- SLA policies in explicit order (first match wins), each a JSON document.
CREATE TABLE sla_policies (
    position     BIGINT PRIMARY KEY,
    name         TEXT NOT NULL,
    spec         TEXT NOT NULL,
    calendar_id  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE tickets (
    id               INTEGER PRIMARY KEY,
    reference        TEXT UNIQUE,
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'line', 'web', 'api', 'phone', 'in_store', 'social')),
    status           TEXT NOT NULL CHECK (status IN ('new', 'open', 'waiting_on_customer', 'waiting_on_third_party', 'solved', 'closed')),
    priority         TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    category         TEXT,
    subject          TEXT,
    customer_id      BIGINT REFERENCES customers (id),
    order_event_id   BIGINT REFERENCES events (id),
    assignee         TEXT,
    opened_by        TEXT NOT NULL CHECK (opened_by IN ('customer', 'agent')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    sla_policy       TEXT,
    sla_next_due_at  BIGINT,
    sla_breached     BIGINT NOT NULL DEFAULT 0 CHECK (sla_breached IN (0, 1)),
    sla_error        TEXT
);
CREATE INDEX tickets_by_status ON tickets (status, id);
CREATE INDEX tickets_by_assignee ON tickets (assignee, id);
CREATE INDEX tickets_by_customer ON tickets (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX tickets_by_next_due ON tickets (sla_next_due_at) WHERE sla_next_due_at IS NOT NULL;

-- The ticket log. Rows are never updated or deleted (triggers refuse it).
CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    sender     TEXT,
    ack_only   BIGINT NOT NULL DEFAULT 0 CHECK (ack_only IN (0, 1)),
    body       TEXT,
    value      TEXT,
    previous   TEXT,
    other_id   BIGINT,
    clock      TEXT,
    instance   BIGINT,
    action     TEXT
);
CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket_id, id);
CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events
BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END;
CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events
BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only'); END;

-- SLA metric events (activate, pause, resume, warn, breach, fulfill, cancel). A warning or a
-- breach of one clock instance is stored once, whoever computes it first (two workers, a
-- timer and a request racing); pauses and resumes are distinct by instant.
CREATE TABLE sla_events (
    id           INTEGER PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    clock        TEXT NOT NULL,
    instance     BIGINT NOT NULL,
    action       TEXT NOT NULL,
    at           BIGINT NOT NULL,
    policy       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX sla_events_once ON sla_events (ticket_id, clock, instance, action)
    WHERE action NOT IN ('pause', 'resume');
CREATE UNIQUE INDEX sla_events_pauses ON sla_events (ticket_id, clock, instance, action, at)
    WHERE action IN ('pause', 'resume');
CREATE INDEX sla_events_by_action ON sla_events (action, at);
