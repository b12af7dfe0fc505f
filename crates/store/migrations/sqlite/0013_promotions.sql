-- Promotions (sqlite): every version of every promotion kept forever, what each lot got from
-- each promotion, and the budget counter caps are enforced with.
-- Keep in step with ../postgres/0013_promotions.sql.

-- A promotion's identity and life. Ids start at 100001 so that a promotion's rule id never
-- meets the base rule (1) or the tier rule (65535) in `lot_lines.rules`. `budget_points` is
-- the latest version's budget; `budget_used` counts the points granted while it had one,
-- updated under this row's lock in the transaction of the lot, and the CHECK is the
-- database's own guard against overspending.
CREATE TABLE promotions (
    id             INTEGER PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    ended_at       BIGINT,
    ended_by       TEXT,
    budget_points  BIGINT CHECK (budget_points >= 0),
    budget_used    BIGINT NOT NULL DEFAULT 0 CHECK (budget_used >= 0),
    CHECK (budget_points IS NULL OR budget_used <= budget_points)
);

-- Every version's full definition. Windows are programme-local date-times
-- (`YYYY-MM-DDTHH:MM:SS`, half-open); target `all`, `sku:<sku>` or `category:<category>`;
-- effect `multiplier:<basis points>` or `points_per_unit:<points>`; tiers comma-separated
-- ('' for every member); member cap period `day`, `month` or `lifetime`.
CREATE TABLE promotion_versions (
    promotion_id         BIGINT NOT NULL REFERENCES promotions (id),
    version              BIGINT NOT NULL CHECK (version > 0),
    name                 TEXT NOT NULL,
    priority             BIGINT NOT NULL,
    starts_at_local      TEXT,
    ends_at_local        TEXT,
    target               TEXT NOT NULL,
    effect               TEXT NOT NULL,
    tiers                TEXT NOT NULL,
    minimum_spend_minor  BIGINT NOT NULL CHECK (minimum_spend_minor >= 0),
    member_cap_points    BIGINT CHECK (member_cap_points >= 0),
    member_cap_period    TEXT CHECK (member_cap_period IN ('day', 'month', 'lifetime')),
    budget_points        BIGINT CHECK (budget_points >= 0),
    created_at           BIGINT NOT NULL,
    created_by           TEXT NOT NULL,
    PRIMARY KEY (promotion_id, version),
    CHECK ((member_cap_points IS NULL) = (member_cap_period IS NULL))
);

-- What each purchase lot got from each promotion (placed_at: the order's instant, which
-- decides the member-cap period). Member caps sum these; the usage report too.
CREATE TABLE promotion_grants (
    lot_event_id  BIGINT NOT NULL,
    lot_seq       BIGINT NOT NULL,
    promotion_id  BIGINT NOT NULL REFERENCES promotions (id),
    version       BIGINT NOT NULL,
    customer_id   BIGINT NOT NULL,
    placed_at     BIGINT NOT NULL,
    points        BIGINT NOT NULL CHECK (points > 0),
    PRIMARY KEY (lot_event_id, lot_seq, promotion_id),
    FOREIGN KEY (lot_event_id, lot_seq) REFERENCES transfers (event_id, seq)
);
CREATE INDEX promotion_grants_member ON promotion_grants (promotion_id, customer_id, placed_at);

-- One row, bumped by every promotion change: the rule-set cache's key, and the lock that
-- serialises promotion changes (so two overlapping ones cannot both pass the check).
CREATE TABLE promotion_revision (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);
INSERT INTO promotion_revision (id, revision) VALUES (1, 0);
