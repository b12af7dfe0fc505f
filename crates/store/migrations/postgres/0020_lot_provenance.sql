-- A purchase lot's provenance and revenue on its own transfer row (postgres). Keep in step with
-- ../sqlite/0020_lot_provenance.sql, which says why and what each column holds.
ALTER TABLE transfers
    ADD COLUMN lines TEXT,
    ADD COLUMN cohort TEXT,
    ADD COLUMN price_minor BIGINT CHECK (price_minor >= 0),
    ADD COLUMN points_ssp_minor BIGINT CHECK (points_ssp_minor >= 0),
    ADD COLUMN allocated_minor BIGINT,
    ADD COLUMN rate_ppm BIGINT CHECK (rate_ppm > 0 AND rate_ppm <= 1000000),
    ADD CONSTRAINT transfers_allocation_within_price
        CHECK (allocated_minor >= 0 AND allocated_minor <= price_minor),
    ADD CONSTRAINT transfers_revenue_whole_on_earn
        CHECK (num_nulls(cohort, price_minor, points_ssp_minor, allocated_minor, rate_ppm) = 5
               OR (num_nonnulls(cohort, price_minor, points_ssp_minor, allocated_minor, rate_ppm) = 5
                   AND kind = 'earn'));

UPDATE transfers t SET lines = l.lines
FROM (SELECT lot_event_id, lot_seq,
             json_agg(json_build_array(line, quantity, points, rules) ORDER BY line)::text AS lines
      FROM lot_lines GROUP BY lot_event_id, lot_seq) AS l
WHERE l.lot_event_id = t.event_id AND l.lot_seq = t.seq;

UPDATE transfers t SET cohort = r.cohort, price_minor = r.price_minor,
                       points_ssp_minor = r.points_ssp_minor, allocated_minor = r.allocated_minor,
                       rate_ppm = r.rate_ppm
FROM lot_revenue r
WHERE r.lot_event_id = t.event_id AND r.lot_seq = t.seq;

DROP TABLE lot_lines;
DROP TABLE lot_revenue;
