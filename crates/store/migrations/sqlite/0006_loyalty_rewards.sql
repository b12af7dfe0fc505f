-- Loyalty, part two (SQLite): what happens to points of a cancelled redemption whose lot has
-- expired meanwhile, the rewards catalogue, voucher code pools and reward redemptions.
-- Keep in step with ../postgres/0006_loyalty_rewards.sql.

-- 'forfeit' (the points stay expired) or 'reinstate:<days>' (a fresh lot valid through the
-- local day <days> days after the cancellation).
ALTER TABLE loyalty_programmes ADD COLUMN expired_restore TEXT NOT NULL DEFAULT 'forfeit';
-- Days before a lot's last valid day a `points.expiring` reminder is written (0: none).
ALTER TABLE loyalty_programmes ADD COLUMN reminder_days BIGINT NOT NULL DEFAULT 30
    CHECK (reminder_days >= 0);
-- 'free' (reward points, may expire) or 'paid' (stored value: never expires).
ALTER TABLE loyalty_programmes ADD COLUMN wallet_kind TEXT NOT NULL DEFAULT 'free'
    CHECK (wallet_kind IN ('free', 'paid'));

-- A reward members redeem points for. `redeemed` counts live (not cancelled) redemptions; the
-- conditional update `redeemed < stock` is what never oversells.
CREATE TABLE rewards (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL,
    points_price      BIGINT NOT NULL CHECK (points_price > 0),
    stock             BIGINT CHECK (stock >= 0),
    redeemed          BIGINT NOT NULL DEFAULT 0 CHECK (redeemed >= 0),
    per_member_limit  BIGINT CHECK (per_member_limit > 0),
    valid_from        BIGINT,
    valid_until       BIGINT,
    issues_voucher    BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    CHECK (stock IS NULL OR redeemed <= stock)
);

-- Voucher codes of a reward's pool: available → issued (by one redemption) → void (cancelled).
CREATE TABLE voucher_codes (
    id             INTEGER PRIMARY KEY,
    reward_id      BIGINT NOT NULL REFERENCES rewards (id),
    code           TEXT NOT NULL UNIQUE,
    state          TEXT NOT NULL CHECK (state IN ('available', 'issued', 'void')),
    redemption_id  BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX voucher_codes_available ON voucher_codes (reward_id, id) WHERE state = 'available';

-- One redemption of a reward: the committed hold's `points_redeemed` event, and its voucher.
CREATE TABLE reward_redemptions (
    id               INTEGER PRIMARY KEY,
    reward_id        BIGINT NOT NULL REFERENCES rewards (id),
    customer_id      BIGINT NOT NULL REFERENCES customers (id),
    hold_id          BIGINT NOT NULL REFERENCES points_holds (id),
    event_id         BIGINT NOT NULL UNIQUE REFERENCES events (id),
    points           BIGINT NOT NULL CHECK (points > 0),
    voucher_code_id  BIGINT REFERENCES voucher_codes (id),
    state            TEXT NOT NULL CHECK (state IN ('committed', 'cancelled')),
    created_at       BIGINT NOT NULL
);
CREATE INDEX reward_redemptions_by_member ON reward_redemptions (customer_id, reward_id);

-- Expiry reminders written, once per lot and last valid instant.
CREATE TABLE lot_reminders (
    lot_event_id  BIGINT NOT NULL,
    lot_seq       BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    written_at    BIGINT NOT NULL,
    PRIMARY KEY (lot_event_id, lot_seq, expires_at),
    FOREIGN KEY (lot_event_id, lot_seq) REFERENCES transfers (event_id, seq)
) WITHOUT ROWID;
