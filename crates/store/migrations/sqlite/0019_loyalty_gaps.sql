-- Loyalty engine gaps (sqlite). Keep in step with ../postgres/0019_loyalty_gaps.sql.

-- The base rule's excluded categories, kept with each version like its minimum spend: a JSON
-- array of category names (lines in them earn nothing from the base rule and do not count
-- towards its minimum spend). Versions stored before this migration excluded nothing.
ALTER TABLE loyalty_rules ADD COLUMN excluded_categories TEXT NOT NULL DEFAULT '[]';

-- A rewarded referral whose qualifying order was fully refunded or cancelled within its return
-- window is 'reversed' (both rewards clawed back, `reason` names the refund's kind) at
-- `reversed_at`. SQLite cannot change a CHECK: the table is rebuilt with its rows.
CREATE TABLE referrals_v19 (
    referee_id      BIGINT PRIMARY KEY REFERENCES customers (id),
    referrer_id     BIGINT NOT NULL REFERENCES customers (id),
    code            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'rewarded', 'refused', 'reversed')),
    reason          TEXT,
    order_event_id  BIGINT REFERENCES events (id),
    rule_version    BIGINT,
    created_at      BIGINT NOT NULL,
    settled_at      BIGINT,
    reversed_at     BIGINT
) WITHOUT ROWID;
INSERT INTO referrals_v19 (referee_id, referrer_id, code, state, reason, order_event_id,
                           rule_version, created_at, settled_at)
    SELECT referee_id, referrer_id, code, state, reason, order_event_id, rule_version,
           created_at, settled_at
    FROM referrals;
DROP TABLE referrals;
ALTER TABLE referrals_v19 RENAME TO referrals;
CREATE INDEX referrals_by_referrer ON referrals (referrer_id, state, settled_at);
