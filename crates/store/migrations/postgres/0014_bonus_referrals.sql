-- Non-purchase points and referrals (postgres). Keep in step with ../sqlite/0014_bonus_referrals.sql.

-- Every change of the non-purchase rules is a new version of the whole set; the highest is in
-- force. A set holds the 29 February fallback and the referral settings; its rules are below.
CREATE TABLE bonus_rule_sets (
    version                     BIGINT PRIMARY KEY,
    leap_day_fallback           TEXT NOT NULL CHECK (leap_day_fallback IN ('feb28', 'mar1')),
    referrer_points             BIGINT NOT NULL CHECK (referrer_points >= 0),
    referee_points              BIGINT NOT NULL CHECK (referee_points >= 0),
    referral_minimum_order_minor BIGINT NOT NULL CHECK (referral_minimum_order_minor >= 0),
    referral_cap                BIGINT NOT NULL CHECK (referral_cap > 0),
    referral_cap_period         TEXT NOT NULL CHECK (referral_cap_period IN ('day', 'month', 'lifetime')),
    created_by                  TEXT NOT NULL,
    created_at                  BIGINT NOT NULL
);

-- The points of each kind in a set version; `code` names a custom event ('' for other kinds).
CREATE TABLE bonus_rules (
    version  BIGINT NOT NULL REFERENCES bonus_rule_sets (version),
    kind     TEXT NOT NULL,
    code     TEXT NOT NULL,
    points   BIGINT NOT NULL CHECK (points > 0),
    PRIMARY KEY (version, kind, code)
);

-- One referral code per member, generated from the app's entropy.
CREATE TABLE referral_codes (
    customer_id  BIGINT PRIMARY KEY REFERENCES customers (id),
    code         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL
);

-- Who referred whom (one referrer per referee): pending until the referee's first qualifying
-- order, then rewarded or refused with a reason. Never deleted.
CREATE TABLE referrals (
    referee_id      BIGINT PRIMARY KEY REFERENCES customers (id),
    referrer_id     BIGINT NOT NULL REFERENCES customers (id),
    code            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'rewarded', 'refused')),
    reason          TEXT,
    order_event_id  BIGINT REFERENCES events (id),
    rule_version    BIGINT,
    created_at      BIGINT NOT NULL,
    settled_at      BIGINT
);
CREATE INDEX referrals_by_referrer ON referrals (referrer_id, state, settled_at);

-- The daily birthday and anniversary run looks customers up by month-day of birth and by
-- joining instant.
CREATE INDEX customers_by_birthday ON customers (substr(birthday, 6)) WHERE birthday IS NOT NULL;
CREATE INDEX customers_by_created ON customers (created_at);
