-- Patron's first schema (SQLite). Instants are BIGINT microseconds since the Unix epoch,
-- money BIGINT minor units, points BIGINT. Keep in step with ../postgres/0001_init.sql.

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT,
    birthday    TEXT,
    locale      TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE customer_identities (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX customer_identities_by_customer ON customer_identities (customer_id);

-- Points accounts. A customer has one; the programme has system accounts (code) that
-- points are issued from and returned to.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    customer_id     BIGINT UNIQUE REFERENCES customers (id),
    code            TEXT UNIQUE,
    balance         BIGINT NOT NULL DEFAULT 0,
    allow_negative  BIGINT NOT NULL DEFAULT 0,
    CHECK ((customer_id IS NULL) <> (code IS NULL)),
    CHECK (balance >= 0 OR allow_negative = 1)
);

-- Every intake event, exactly once per (source, external_id). Orders are events of kind
-- order_placed; refunds and cancellations name their order in order_event_id.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    customer_id     BIGINT REFERENCES customers (id),
    order_event_id  BIGINT REFERENCES events (id),
    occurred_at     BIGINT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    currency        TEXT,
    amount_minor    BIGINT CHECK (amount_minor >= 0),
    content_hash    BLOB NOT NULL,
    body            TEXT NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX events_by_customer ON events (customer_id, occurred_at);
CREATE INDEX events_by_order ON events (order_event_id) WHERE order_event_id IS NOT NULL;

-- The ledger. One row per transfer naming both accounts, so every transfer sums to zero by
-- construction. A transfer is identified by the event that caused it and a sequence number.
-- An earn transfer is a lot: remaining, pending_until and expires_at belong to it.
CREATE TABLE transfers (
    event_id           BIGINT NOT NULL REFERENCES events (id),
    seq                BIGINT NOT NULL,
    debit_account_id   BIGINT NOT NULL REFERENCES accounts (id),
    credit_account_id  BIGINT NOT NULL REFERENCES accounts (id),
    amount             BIGINT NOT NULL CHECK (amount > 0),
    kind               TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    remaining          BIGINT CHECK (remaining >= 0 AND remaining <= amount),
    pending_until      BIGINT,
    expires_at         BIGINT,
    lot_event_id       BIGINT,
    lot_seq            BIGINT,
    reason             TEXT,
    PRIMARY KEY (event_id, seq),
    CHECK (debit_account_id <> credit_account_id),
    CHECK (kind <> 'earn' OR remaining IS NOT NULL)
) WITHOUT ROWID;
-- Earn transfers are debited to the issuance account, which no statement lists: leave them out.
CREATE INDEX transfers_by_debit ON transfers (debit_account_id) WHERE kind <> 'earn';
CREATE INDEX transfers_by_credit ON transfers (credit_account_id);

-- Which lots a debit consumed, so that a reversal or a cancelled redemption can give
-- points back to the lots they came from.
CREATE TABLE lot_consumptions (
    event_id      BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    lot_event_id  BIGINT NOT NULL,
    lot_seq       BIGINT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (event_id, seq, lot_event_id, lot_seq),
    FOREIGN KEY (event_id, seq) REFERENCES transfers (event_id, seq),
    FOREIGN KEY (lot_event_id, lot_seq) REFERENCES transfers (event_id, seq)
) WITHOUT ROWID;

CREATE INDEX lot_consumptions_by_lot ON lot_consumptions (lot_event_id, lot_seq);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hash  BLOB NOT NULL,
    role         TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE idempotency_keys (
    api_key_id    BIGINT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status        BIGINT NOT NULL,
    response      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, key)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT
);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    due_at        BIGINT NOT NULL,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    dedupe_key    TEXT UNIQUE,
    CHECK (state IN ('pending', 'running', 'done', 'dead'))
);
CREATE INDEX jobs_due ON jobs (due_at) WHERE state IN ('pending', 'running');

CREATE TABLE webhook_endpoints (
    id           INTEGER PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    topics       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    disabled_at  BIGINT
);

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    topic       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
