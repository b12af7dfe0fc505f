-- Ledger debt (sqlite): what a return after the points were spent leaves, by the programme's
-- shortfall policy. Keep in step with ../postgres/0015_ledger_debt.sql.

-- 'debt' (the balance stays >= 0; the uncovered points are owed and settled from the next
-- points that become active) or 'negative_balance' (the balance goes below zero).
ALTER TABLE loyalty_programmes ADD COLUMN shortfall TEXT NOT NULL DEFAULT 'debt'
    CHECK (shortfall IN ('debt', 'negative_balance'));

-- Points the account owes under the debt policy, not yet settled (materialised).
ALTER TABLE accounts ADD COLUMN debt BIGINT NOT NULL DEFAULT 0 CHECK (debt >= 0);

-- One row per debit event whose points no lot could give: a return under either policy, or a
-- correction allowed below zero. kind 'debt': owed, not posted; each settlement is a 'settle'
-- transfer. kind 'negative': posted (the balance went below zero by it); each settlement is a
-- lot_consumptions row of the event's seq-0 transfer on the lot that paid.
CREATE TABLE points_debts (
    event_id    BIGINT PRIMARY KEY REFERENCES events (id),
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    kind        TEXT NOT NULL CHECK (kind IN ('debt', 'negative')),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    settled     BIGINT NOT NULL DEFAULT 0 CHECK (settled >= 0 AND settled <= amount),
    created_at  BIGINT NOT NULL
);
CREATE INDEX points_debts_open ON points_debts (account_id, event_id) WHERE settled < amount;

-- Restore lots by the lot they restore: the accounting follows a chain of restores back to
-- the purchase lot whose revenue they carry.
CREATE INDEX transfers_restores ON transfers (lot_event_id, lot_seq) WHERE kind = 'restore';
