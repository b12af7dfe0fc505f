-- The loyalty engine (SQLite): programme settings and earning rules, versioned and kept
-- forever; per-line provenance of purchase lots; redemption holds; pending balances.
-- Keep in step with ../postgres/0002_loyalty.sql.

-- Every change of the programme is a new version; the highest version is in force.
CREATE TABLE loyalty_programmes (
    version            INTEGER PRIMARY KEY,
    time_zone          TEXT NOT NULL,
    currency           TEXT NOT NULL,
    point_value_minor  BIGINT NOT NULL,
    pending_days       BIGINT NOT NULL CHECK (pending_days >= 0),
    expiry             TEXT NOT NULL,
    tiers              TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);

-- Earning rules by (rule_id, version); a lot names the versions that earned it.
CREATE TABLE loyalty_rules (
    rule_id              BIGINT NOT NULL,
    version              BIGINT NOT NULL,
    points               BIGINT NOT NULL CHECK (points > 0),
    per_minor            BIGINT NOT NULL CHECK (per_minor > 0),
    minimum_spend_minor  BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    PRIMARY KEY (rule_id, version)
) WITHOUT ROWID;

-- What each order line earned into a purchase lot, and under which rule versions
-- ("id:version" comma-separated): a return reverses exactly this.
CREATE TABLE lot_lines (
    lot_event_id  BIGINT NOT NULL,
    lot_seq       BIGINT NOT NULL,
    line          BIGINT NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    points        BIGINT NOT NULL CHECK (points > 0),
    rules         TEXT NOT NULL,
    PRIMARY KEY (lot_event_id, lot_seq, line),
    FOREIGN KEY (lot_event_id, lot_seq) REFERENCES transfers (event_id, seq)
) WITHOUT ROWID;

-- Points reserved for a redemption: held until committed, released or expired.
CREATE TABLE points_holds (
    id           INTEGER PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers (id),
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    points       BIGINT NOT NULL CHECK (points > 0),
    state        TEXT NOT NULL CHECK (state IN ('held', 'committed', 'released')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    event_id     BIGINT REFERENCES events (id)
);
CREATE INDEX points_holds_by_account ON points_holds (account_id, state);

-- `balance` stays "spendable" (Σ remaining of active lots); `pending` is Σ remaining of lots
-- still in their return window.
ALTER TABLE accounts ADD COLUMN pending BIGINT NOT NULL DEFAULT 0 CHECK (pending >= 0);
-- For a lot: 'pending', 'active' (NULL before this migration means active) or 'expired'.
ALTER TABLE transfers ADD COLUMN lot_state TEXT;
CREATE INDEX transfers_pending ON transfers (pending_until) WHERE lot_state = 'pending';
CREATE INDEX transfers_expiring ON transfers (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;
