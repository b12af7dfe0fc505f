-- A purchase lot's provenance and revenue on its own transfer row (sqlite). Keep in step with
-- ../postgres/0020_lot_provenance.sql.
--
-- Until now an earn wrote two rows beside its transfer: one `lot_lines` row per order line and
-- one `lot_revenue` row, each with its own key and a foreign key to the transfer. They are
-- written together, read by the lot's key only (a return reads its lines) or summed over every
-- purchase lot (the IFRS 15 reports), so they become columns of the lot itself:
--
-- * `lines`: what each order line earned and under which rule versions, a JSON array of
--   `[line, quantity, points, "id:version,…"]` by line; NULL for lots of no order line.
-- * `cohort` (programme-local month 'YYYY-MM' of `created_at`), `price_minor`,
--   `points_ssp_minor`, `allocated_minor`, `rate_ppm`: the revenue the lot took of its order's
--   price by relative stand-alone selling price; all NULL for free points, which carry none.
--   The lot's points are its `amount`, recorded when it was (`created_at`).
ALTER TABLE transfers ADD COLUMN lines TEXT;
ALTER TABLE transfers ADD COLUMN cohort TEXT;
ALTER TABLE transfers ADD COLUMN price_minor BIGINT CHECK (price_minor >= 0);
ALTER TABLE transfers ADD COLUMN points_ssp_minor BIGINT CHECK (points_ssp_minor >= 0);
ALTER TABLE transfers ADD COLUMN allocated_minor BIGINT
    CHECK (allocated_minor >= 0 AND allocated_minor <= price_minor);
-- The revenue columns are all set (on an earn) or all NULL; SQLite adds no table constraint
-- to an existing table, so the check rides on the last column.
ALTER TABLE transfers ADD COLUMN rate_ppm BIGINT CHECK (rate_ppm > 0 AND rate_ppm <= 1000000)
    CHECK ((cohort IS NULL AND price_minor IS NULL AND points_ssp_minor IS NULL
            AND allocated_minor IS NULL AND rate_ppm IS NULL)
           OR (cohort IS NOT NULL AND price_minor IS NOT NULL AND points_ssp_minor IS NOT NULL
               AND allocated_minor IS NOT NULL AND rate_ppm IS NOT NULL AND kind = 'earn'));

UPDATE transfers SET lines = (
    SELECT json_group_array(json_array(line, quantity, points, rules) ORDER BY line)
    FROM lot_lines WHERE lot_event_id = transfers.event_id AND lot_seq = transfers.seq
)
WHERE EXISTS (SELECT 1 FROM lot_lines
              WHERE lot_event_id = transfers.event_id AND lot_seq = transfers.seq);

UPDATE transfers SET cohort = r.cohort, price_minor = r.price_minor,
                     points_ssp_minor = r.points_ssp_minor, allocated_minor = r.allocated_minor,
                     rate_ppm = r.rate_ppm
FROM lot_revenue AS r
WHERE r.lot_event_id = transfers.event_id AND r.lot_seq = transfers.seq;

DROP TABLE lot_lines;
DROP TABLE lot_revenue;
