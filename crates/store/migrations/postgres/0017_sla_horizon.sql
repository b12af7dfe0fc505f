-- How far the last SLA evaluation of a ticket looked at its calendar, and which calendar
-- (PostgreSQL). Keep in step with ../sqlite/0017_sla_horizon.sql.
--
-- sla_horizon: microseconds; every open span, whole local date and next opening the
-- evaluation used lies before it (domain::sla::SlaState::calendar_horizon). The smallest
-- BIGINT when nothing depended on the calendar. NULL when unknown (never evaluated since this
-- migration, or the clocks could not be computed): such a ticket is always recomputed.
-- A calendar edit whose first difference is after the horizon (or on another calendar)
-- cannot change the ticket's clocks, so the recompute after the edit skips it.
ALTER TABLE tickets ADD COLUMN sla_horizon BIGINT;
ALTER TABLE tickets ADD COLUMN sla_calendar_id BIGINT;
