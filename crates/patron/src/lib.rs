//! The `patron` binary's library: command-line interface, configuration, telemetry and the
//! subcommands (serve, migrate, keys, import, demo, bench). `main.rs` only calls [`cli::main`].

pub mod analytics_cmd;
pub mod bench;
pub mod bench_analytics;
pub mod bench_redeem;
pub mod bench_sla;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_desk;
pub mod desk_cmd;
pub mod import;
pub mod progress;
pub mod telemetry;
