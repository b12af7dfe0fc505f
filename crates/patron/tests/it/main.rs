//! Patron's one integration-test binary. Store-touching tests run on SQLite and, when
//! `PATRON_TEST_POSTGRES_URL` is set (always in CI), on PostgreSQL too.

mod http;
mod support;

mod accounting;
mod analytics;
mod bonus;
mod classify;
mod commands;
mod concurrency;
mod debt;
mod desk;
mod desk_ops;
mod desk_teams;
mod email;
mod expiry;
mod fuzz;
mod idempotency;
mod instances;
mod intake;
mod jobs;
mod loyalty;
mod model;
mod promotions;
mod sla_recompute;
mod tidy;
mod tiers;
mod vouchers;
