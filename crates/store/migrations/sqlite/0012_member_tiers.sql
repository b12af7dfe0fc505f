-- Materialised tier state (sqlite): one row per member, written in the transaction of every event
-- that moves it (an order's earn, a return, an override, a paid membership, the loyalty.tiers
-- review), so that intake reads a batch's tiers with one primary-key query. tier_overrides
-- stays the append-only audit of overrides; the one in force is mirrored here.
-- Keep in step with ../postgres/0012_member_tiers.sql.
CREATE TABLE member_tiers (
    customer_id        INTEGER PRIMARY KEY REFERENCES customers (id),
    -- The tier earned by qualification (a code of the programme's tier group) and since when.
    tier                TEXT NOT NULL,
    since               BIGINT NOT NULL,
    -- The first instant the member was seen: the anniversary of anniversary-year periods.
    joined_at           BIGINT NOT NULL,
    -- The review period value_current counts, and the previous period's value.
    period_start        BIGINT NOT NULL,
    value_current       BIGINT NOT NULL,
    value_previous      BIGINT NOT NULL,
    -- A downgrade ahead: to which tier, when the member is told, from when.
    downgrade_to        TEXT,
    downgrade_notify_at BIGINT,
    downgrade_at        BIGINT,
    -- The downgrade_at of the last tier.downgrade_notice written (once per downgrade).
    notice_sent_for     BIGINT,
    override_tier       TEXT,
    override_ends_at    BIGINT,
    -- A paid membership: at least this tier until the term ends; renews 0 once cancelled.
    membership_tier     TEXT,
    membership_ends_at  BIGINT,
    membership_renews   BIGINT NOT NULL DEFAULT 0,
    -- The next instant the loyalty.tiers job must review the member; NULL: only new events.
    review_at           BIGINT,
    updated_at          BIGINT NOT NULL,
    CHECK ((downgrade_to IS NULL) = (downgrade_at IS NULL)),
    CHECK ((override_tier IS NULL) = (override_ends_at IS NULL)),
    CHECK ((membership_tier IS NULL) = (membership_ends_at IS NULL))
);
CREATE INDEX member_tiers_review ON member_tiers (review_at) WHERE review_at IS NOT NULL;
