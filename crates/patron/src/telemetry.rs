//! Logging: `tracing` to stderr with the configured filter. Log lines carry ids, kinds,
//! counts and timings, never personal data (emails, phones, names, bodies) or secrets.

use anyhow::Result;

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(filter: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
