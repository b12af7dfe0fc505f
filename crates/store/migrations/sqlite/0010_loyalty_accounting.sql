-- Loyalty accounting, IFRS 15 (sqlite): what each purchase lot took of its order's price, and
-- the versioned breakage estimates per cohort. Keep in step with ../postgres/0010_loyalty_accounting.sql.

-- One row per purchase lot (free points have none: they carry no revenue). The cohort is the
-- programme-local month the lot was recorded in ('YYYY-MM'); the allocation is by relative
-- stand-alone selling price, with the points' SSP = points x point value x the cohort's
-- expected redemption rate in force when the lot was recorded.
CREATE TABLE lot_revenue (
    lot_event_id      BIGINT NOT NULL,
    lot_seq           BIGINT NOT NULL,
    cohort            TEXT NOT NULL,
    recorded_at       BIGINT NOT NULL,
    points            BIGINT NOT NULL CHECK (points > 0),
    price_minor       BIGINT NOT NULL CHECK (price_minor >= 0),
    points_ssp_minor  BIGINT NOT NULL CHECK (points_ssp_minor >= 0),
    allocated_minor   BIGINT NOT NULL CHECK (allocated_minor >= 0 AND allocated_minor <= price_minor),
    rate_ppm          BIGINT NOT NULL CHECK (rate_ppm > 0 AND rate_ppm <= 1000000),
    PRIMARY KEY (lot_event_id, lot_seq),
    FOREIGN KEY (lot_event_id, lot_seq) REFERENCES transfers (event_id, seq)
) WITHOUT ROWID;
CREATE INDEX lot_revenue_by_cohort ON lot_revenue (cohort, recorded_at);

-- Every version of a cohort's estimate of the share of its points that will be redeemed,
-- in parts per million, with who set it, when and why. Never updated.
CREATE TABLE breakage_estimates (
    cohort      TEXT NOT NULL,
    version     BIGINT NOT NULL CHECK (version > 0),
    rate_ppm    BIGINT NOT NULL CHECK (rate_ppm > 0 AND rate_ppm <= 1000000),
    set_by      TEXT NOT NULL,
    set_at      BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (cohort, version)
) WITHOUT ROWID;
