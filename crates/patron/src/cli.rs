//! The command line: `patron serve | migrate | keys | import | demo | bench`.

use crate::config::{self, Config};
use crate::import::{self, Format, ImportOptions, Kind};
use anyhow::{Context, Result, bail};
use app::sys::{OsEntropy, SystemClock};
use app::webhooks::HttpSender;
use app::{App, Principal};
use clap::{Parser, Subcommand};
use domain::access::Role;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "patron",
    version,
    about = "Patron (熟客): customer loyalty and care for shops"
)]
pub struct Cli {
    /// Configuration file (default: ./patron.toml when present, or PATRON_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (PATRON_DATABASE_URL).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Log filter, e.g. info or patron=debug (PATRON_LOG).
    #[arg(long, global = true)]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run background jobs.
    Serve {
        /// Address to listen on (PATRON_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations (also done by every other command on start).
    Migrate,
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Import customers or orders from CSV, JSON Lines or CDNOW text.
    Import(ImportArgs),
    /// Fill a temporary store with a generated Taiwanese shop and serve it.
    Demo(crate::demo::DemoArgs),
    /// Print the OpenAPI 3.1 document of the HTTP API.
    Openapi,
    /// Benchmarks, each printed as a ratio against a reference measured in the same run.
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
    /// Retention analytics and CLV on a transaction file (no database), or refit on the store.
    Analytics(crate::analytics_cmd::AnalyticsArgs),
    /// Service-desk SLA tools: `patron sla preview` checks a calendar before relying on it.
    Sla {
        #[command(subcommand)]
        command: crate::desk_cmd::SlaCommand,
    },
    /// Service-desk tools: `patron desk classify` classifies a JSONL file of messages.
    Desk {
        #[command(subcommand)]
        command: crate::desk_cmd::DeskCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; its text is printed once and never stored.
    Create {
        /// admin, manager, agent, analyst or integration.
        #[arg(long)]
        role: String,
        /// What the key is for (shown in lists and the audit log).
        #[arg(long, default_value = "api key")]
        name: String,
    },
    /// List keys (prefix, role, name; never the secret).
    List,
    /// Revoke a key by its prefix.
    Revoke { prefix: String },
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// csv, jsonl or cdnow (default: from the file extension).
    #[arg(long)]
    pub format: Option<String>,
    /// orders or customers.
    #[arg(long, default_value = "orders")]
    pub kind: String,
    /// The source the orders' ids belong to (default: import; cdnow for CDNOW files).
    #[arg(long)]
    pub source: Option<String>,
    /// Currency of rows that name none (default: TWD; USD for CDNOW).
    #[arg(long)]
    pub currency: Option<String>,
    /// Rename columns: FROM=TO,… (e.g. 訂單編號=order_id).
    #[arg(long)]
    pub map: Option<String>,
    /// Write rejected rows to this CSV file instead of stderr.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Orders per transaction.
    #[arg(long, default_value_t = import::IMPORT_BATCH_ROWS_DEFAULT)]
    pub batch_rows: usize,
    /// Print a line after each committed batch.
    #[arg(long)]
    pub report_batches: bool,
}

/// Loads and validates configuration from every layer, flags last.
pub fn load_config(cli: &Cli) -> Result<Config> {
    let mut layers = config::load(cli.config.as_deref(), std::env::vars())?;
    layers.flag(
        "database_url",
        "--database-url",
        cli.database_url.as_deref(),
    );
    layers.flag("log", "--log", cli.log.as_deref());
    if let Command::Serve { listen } = &cli.command {
        layers.flag("listen", "--listen", listen.as_deref());
    }
    layers.build()
}

/// Opens the store named by the configuration (migrating it) and builds the app.
pub fn build_app(config: &Config) -> Result<App> {
    let url = store::DatabaseUrl::parse(&config.database_url)?;
    let store = store::Store::open(&url, &config.store_options())?;
    Ok(App::new(
        store,
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
        Arc::new(HttpSender::default()),
        config.settings(),
    ))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = load_config(&cli)?;
    crate::telemetry::init(&config.log)?;
    match cli.command {
        Command::Serve { .. } => {
            let app = build_app(&config)?;
            serve(app, &config, api::ApiOptions::default(), |addr| {
                println!("Patron is listening on http://{addr}");
            })?;
        }
        Command::Migrate => {
            let url = store::DatabaseUrl::parse(&config.database_url)?;
            let s = store::Store::open_unmigrated(&url, &config.store_options())?;
            let applied = s.migrate()?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied migration {} {}", m.version, m.name);
            }
        }
        Command::Keys { command } => {
            let app = build_app(&config)?;
            keys(&app, command)?;
        }
        Command::Import(args) => {
            let app = build_app(&config)?;
            let report = import_file(&app, &args)?;
            println!(
                "{} rows read: {} stored, {} already present, {} rejected",
                report.rows, report.accepted, report.duplicates, report.rejected_rows
            );
            if report.rejected_rows > 0 {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Openapi => println!("{}", api::openapi_json()),
        Command::Demo(args) => crate::demo::run(&config, &args)?,
        Command::Bench { command } => crate::bench::run(&config, command)?,
        Command::Analytics(args) => crate::analytics_cmd::run(&config, args)?,
        Command::Sla { command } => crate::desk_cmd::run(command)?,
        Command::Desk { command } => crate::desk_cmd::run_desk(command)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn keys(app: &App, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { role, name } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role {role:?}: use admin, manager, agent, analyst or integration")
            })?;
            let key = app.create_key(&Principal::cli(), role, &name)?;
            println!("{key}");
            eprintln!("Store this key now: Patron keeps only its hash.");
        }
        KeysCommand::List => {
            for k in app.list_keys()? {
                let state = if k.revoked { "revoked" } else { "active" };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    k.prefix,
                    k.role.as_str(),
                    state,
                    k.created_at,
                    k.name
                );
            }
        }
        KeysCommand::Revoke { prefix } => {
            app.revoke_key(&Principal::cli(), &prefix)?;
            println!("revoked {prefix}");
        }
    }
    Ok(())
}

pub fn import_file(app: &App, args: &ImportArgs) -> Result<import::ImportReport> {
    let format = match &args.format {
        Some(f) => Format::parse(f)?,
        None => Format::guess(&args.file).with_context(|| {
            format!(
                "cannot tell the format of {}: pass --format csv|jsonl|cdnow",
                args.file.display()
            )
        })?,
    };
    let kind = match args.kind.as_str() {
        "orders" => Kind::Orders,
        "customers" => Kind::Customers,
        other => bail!("unknown --kind {other:?}: use orders or customers"),
    };
    if kind == Kind::Customers && format == Format::Cdnow {
        bail!("CDNOW files hold orders: use --kind orders");
    }
    let mut options = ImportOptions::new(args.file.clone(), format, kind);
    options.source = args.source.clone().unwrap_or_else(|| {
        if format == Format::Cdnow {
            "cdnow"
        } else {
            "import"
        }
        .to_owned()
    });
    if let Some(c) = &args.currency {
        options.currency =
            domain::Currency::parse(c).map_err(|e| anyhow::anyhow!("--currency: {}", e.reason))?;
    }
    if let Some(m) = &args.map {
        options.column_map = import::parse_column_map(m)?;
    }
    options.rejects = args.rejects.clone();
    options.batch_rows = args.batch_rows;
    options.report_batches = args.report_batches;
    import::run(app, &options)
}

/// Serves the API until Ctrl-C, running due jobs in the background.
pub fn serve(
    app: App,
    config: &Config,
    options: api::ApiOptions,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    if app.schedule_email_fetch()? {
        tracing::info!("IMAP fetch scheduled");
    }
    let adopted = app.adopt_member_tiers()?;
    if adopted > 0 {
        tracing::info!(adopted, "member tiers materialised for earlier members");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        on_listening(listener.local_addr()?);
        let worker = tokio::spawn(job_loop(app.clone(), config.job_poll_interval_ms));
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let result = api::serve(listener, app, options, shutdown).await;
        worker.abort();
        result
    })
}

/// Runs due jobs every poll interval until the task is aborted.
pub async fn job_loop(app: App, poll_interval_ms: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(poll_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let app = app.clone();
        match tokio::task::spawn_blocking(move || app.run_pending_jobs()).await {
            Ok(Ok(run)) if run != app::jobs::JobRun::default() => {
                tracing::info!(
                    done = run.done,
                    retried = run.retried,
                    dead = run.dead,
                    "jobs run"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "job worker failed"),
            Err(e) => tracing::error!(error = %e, "job worker panicked"),
        }
    }
}
