-- Loyalty engine gaps (postgres). Keep in step with ../sqlite/0019_loyalty_gaps.sql.

-- The base rule's excluded categories, kept with each version like its minimum spend: a JSON
-- array of category names (lines in them earn nothing from the base rule and do not count
-- towards its minimum spend). Versions stored before this migration excluded nothing.
ALTER TABLE loyalty_rules ADD COLUMN excluded_categories TEXT NOT NULL DEFAULT '[]';

-- A rewarded referral whose qualifying order was fully refunded or cancelled within its return
-- window is 'reversed' (both rewards clawed back, `reason` names the refund's kind) at
-- `reversed_at`.
ALTER TABLE referrals DROP CONSTRAINT referrals_state_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_state_check
    CHECK (state IN ('pending', 'rewarded', 'refused', 'reversed'));
ALTER TABLE referrals ADD COLUMN reversed_at BIGINT;
