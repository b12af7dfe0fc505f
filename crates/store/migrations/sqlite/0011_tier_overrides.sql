-- Manual tier overrides (sqlite): append-only; a customer's latest row is in force until its
-- ends_at. Keep in step with ../postgres/0011_tier_overrides.sql.
CREATE TABLE tier_overrides (
    id          INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    tier        TEXT NOT NULL,
    ends_at     BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tier_overrides_customer ON tier_overrides (customer_id, id);
