//! `patron bench`: Patron's write paths measured against a reference on the same machine,
//! database and run, printed as ratios. These are benchmarks, not tests: nothing here asserts.
//!
//! - `import`: the real import (parse, validate, exactly-once, points posting, commit) against
//!   raw batched inserts (COPY on PostgreSQL) of the same rows into a scratch table.
//! - `http`: `POST /api/v1/orders` against a bare authenticated endpoint doing one insert,
//!   both in the same server, driven by an in-process keep-alive client over loopback.
//! - `expiry`: the `loyalty.expire` job over N seeded lots on SQLite: time per million lots and
//!   peak memory (the job works in bounded batches, so memory should not grow with N).
//! - `sla`: the deadlines of N open tickets recomputed after a calendar change, against
//!   reading them ([`crate::bench_sla`]).
//! - `redeem`: hold → commit over HTTP by concurrent redeemers on one account and spread over
//!   many, against the bare insert endpoint of `http` ([`crate::bench_redeem`]).

use crate::config::Config;
use crate::import::{Format, ImportOptions, Kind};
use anyhow::{Context, Result, bail};
use app::sys::Stopwatch;
use app::workload::{CATALOGUE, Rng};
use app::{App, Principal};
use domain::access::Role;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Import N generated order rows, against raw inserts of the same rows.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// sqlite or postgres.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// PostgreSQL server for --backend postgres (default: PATRON_TEST_POSTGRES_URL or the local server).
        #[arg(long)]
        postgres_url: Option<String>,
        /// `full`: the default Taiwanese programme (7-day pending, expiry, three tiers) and a
        /// time-boxed double-points promotion with a member cap; `base`: the base earning rule only.
        #[arg(long, default_value = "full")]
        programme: String,
        /// Orders per import transaction.
        #[arg(long, default_value_t = crate::import::IMPORT_BATCH_ROWS_DEFAULT)]
        batch_rows: usize,
    },
    /// Load POST /api/v1/orders and a bare insert endpoint in one server.
    Http {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Expire N lots (all past their last valid day) with the expiry job on SQLite.
    Expiry {
        #[arg(long, default_value_t = 10_000_000)]
        lots: u64,
        /// Customer accounts the lots are spread over.
        #[arg(long, default_value_t = 1_000)]
        accounts: u64,
    },
    /// Classify N desk messages (the shipped test split, repeated), against merely
    /// extracting their character n-grams.
    Classify {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
    },
    /// 1,000 concurrent redeemers (hold → commit over HTTP) on one account and over N accounts,
    /// against the bare one-insert endpoint in the same server.
    Redeem {
        /// Concurrent redeemers (one keep-alive connection each).
        #[arg(long, default_value_t = 1_000)]
        redeemers: usize,
        /// Accounts of the spread phase, seeded through the real intake.
        #[arg(long, default_value_t = 100_000)]
        accounts: u64,
        /// Redemptions per redeemer in the spread phase.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// Recompute the SLA deadlines of N open tickets after a calendar change, against reading them.
    Sla {
        #[arg(long, default_value_t = 100_000)]
        tickets: u64,
    },
    /// Refit BG/NBD + Gamma-Gamma and write predictions over N customers' orders in a
    /// scratch SQLite store, reporting the refit's peak RSS.
    Refit {
        #[arg(long, default_value_t = 1_000_000)]
        customers: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// lifetimes' peak RSS on the CLV pipeline at this size, in MiB (the bound is half
        /// of it; `bench analytics` measures it: 611 MiB at 1M customers).
        #[arg(long, default_value_t = 611.0)]
        lifetimes_peak_mib: f64,
    },
    /// CLV pipeline and Pareto/NBD fit against Python lifetimes on the same seeded log.
    Analytics {
        #[arg(long, default_value_t = 1_000_000)]
        customers: u64,
        /// Customers for the Pareto/NBD comparison (lifetimes takes minutes; 0 skips it).
        #[arg(long, default_value_t = 100_000)]
        pnbd_customers: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Python with lifetimes (default: $CARGO_TARGET_DIR/lifetimes-venv/bin/python).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Directory of lifetimes_scale.py (default: ../shared/bench).
        #[arg(long)]
        scripts: Option<PathBuf>,
        /// Where to write the generated logs (default: $CARGO_TARGET_DIR/bench-data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(config: &Config, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Import {
            rows,
            backend,
            postgres_url,
            programme,
            batch_rows,
        } => bench_import(config, rows, &backend, postgres_url, &programme, batch_rows),
        BenchCommand::Http {
            seconds,
            concurrency,
        } => bench_http(config, seconds, concurrency),
        BenchCommand::Expiry { lots, accounts } => bench_expiry(config, lots, accounts),
        BenchCommand::Classify { messages } => bench_classify(messages),
        BenchCommand::Redeem {
            redeemers,
            accounts,
            rounds,
        } => crate::bench_redeem::run(config, redeemers, accounts, rounds),
        BenchCommand::Sla { tickets } => crate::bench_sla::run(config, tickets),
        BenchCommand::Refit {
            customers,
            seed,
            lifetimes_peak_mib,
        } => crate::bench_analytics::run_refit(config, customers, seed, lifetimes_peak_mib),
        BenchCommand::Analytics {
            customers,
            pnbd_customers,
            seed,
            python,
            scripts,
            data_dir,
        } => {
            crate::bench_analytics::run(customers, pnbd_customers, seed, python, scripts, data_dir)
        }
    }
}

/// Peak resident set size of this process so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

pub(crate) struct BenchDir(pub(crate) PathBuf);

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `rows` order rows (one line each) as CSV; returns the rows for the reference.
fn generate_orders(path: &std::path::Path, rows: u64) -> Result<()> {
    let mut rng = Rng::seeded(42);
    let customers = (rows / 3).max(1);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "order_id,customer_id,occurred_at,sku,category,quantity,unit_price_minor"
    )?;
    for i in 0..rows {
        let (sku, category, price) = *rng.pick(CATALOGUE);
        let day = 1 + rng.below(28);
        writeln!(
            out,
            "B{i:08},C{:07},2026-02-{day:02},{sku},{category},{},{}",
            rng.below(customers),
            1 + rng.below(3),
            price * 100
        )?;
    }
    out.flush()?;
    Ok(())
}

fn bench_import(
    config: &Config,
    rows: u64,
    backend: &str,
    postgres_url: Option<String>,
    programme: &str,
    batch_rows: usize,
) -> Result<()> {
    let full = match programme {
        "full" => true,
        "base" => false,
        other => bail!("unknown programme {other:?}: use full or base"),
    };
    let dir = BenchDir(std::env::temp_dir().join(format!("patron-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let csv = dir.0.join("orders.csv");
    generate_orders(&csv, rows)?;
    let (url, options) = match backend {
        "sqlite" => (
            store::DatabaseUrl::Sqlite {
                path: dir.0.join("bench.db").display().to_string(),
            },
            store::StoreOptions::default(),
        ),
        "postgres" => {
            let url = postgres_url
                .or_else(|| std::env::var("PATRON_TEST_POSTGRES_URL").ok())
                .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432/test".to_owned());
            let schema = format!("bench_{}", std::process::id());
            (
                store::DatabaseUrl::Postgres { url },
                store::StoreOptions {
                    pool_size: 4,
                    pg_schema: Some(schema),
                },
            )
        }
        other => bail!("unknown backend {other:?}: use sqlite or postgres"),
    };
    let store = store::Store::open(&url, &options)?;
    let app = App::new(
        store.clone(),
        Arc::new(app::sys::SystemClock),
        Arc::new(app::sys::OsEntropy),
        Arc::new(app::webhooks::HttpSender::default()),
        config.settings(),
    );
    let result = (|| -> Result<()> {
        if full {
            install_bench_programme(&app)?;
        }
        // Patron's import path.
        let mut opts = ImportOptions::new(csv.clone(), Format::Csv, Kind::Orders);
        opts.source = "bench".to_owned();
        opts.batch_rows = batch_rows;
        let watch = Stopwatch::start();
        let report = crate::import::run(&app, &opts)?;
        let import_secs = watch.elapsed().as_secs_f64();
        let rss = peak_rss_mib();
        anyhow::ensure!(
            report.accepted == rows,
            "import stored {} of {rows} orders",
            report.accepted
        );

        // The reference: the same rows, parsed from the same file, inserted raw.
        app.bench_scratch_create()?;
        let watch = Stopwatch::start();
        raw_insert(&store, &csv)?;
        let raw_secs = watch.elapsed().as_secs_f64();

        // Context, not the target's reference: the same rows into a table keyed as any
        // exactly-once order store must be (unique source + external id) and indexed by
        // customer, so that a customer's orders can be listed.
        store.write(store::scratch::create_keyed)?;
        let watch = Stopwatch::start();
        raw_insert_keyed(&store, &csv)?;
        let keyed_secs = watch.elapsed().as_secs_f64();

        let import_rate = rows as f64 / import_secs;
        let raw_rate = rows as f64 / raw_secs;
        let keyed_rate = rows as f64 / keyed_secs;
        println!(
            "bench import: {rows} order rows on {backend}, programme {programme}, {batch_rows} orders per transaction"
        );
        println!(
            "  patron import (exactly-once, points posted): {import_rate:>10.0} rows/s ({import_secs:.2} s)"
        );
        println!(
            "  raw {} into a scratch table:      {raw_rate:>10.0} rows/s ({raw_secs:.2} s)",
            if backend == "postgres" {
                "COPY          "
            } else {
                "batched INSERT"
            }
        );
        println!("  ratio: {:.3} (target ≥ 0.5)", import_rate / raw_rate);
        println!(
            "  context: raw rows with a unique (source, external id) key and a customer index: {keyed_rate:>10.0} rows/s ({keyed_secs:.2} s), {:.3} of raw; the import is {:.3} of it",
            keyed_rate / raw_rate,
            import_rate / keyed_rate
        );
        println!("  peak RSS after import: {rss:.0} MiB (target < 200 MiB at 1M rows)");
        Ok(())
    })();
    let _ = store.drop_schema();
    result
}

/// The bench's programme for `--programme full`: the default Taiwanese programme and a
/// double-points promotion on tea for the generated month, capped at 500 points per member
/// per month (so that intake locks and reads its usage).
fn install_bench_programme(app: &App) -> Result<()> {
    let who = Principal::cli();
    app.install_default_programme(&who)?;
    app.create_promotion(
        &who,
        &app::promotions::PromotionInput {
            id: None,
            name: "茶葉雙倍點數".to_owned(),
            priority: 10,
            starts_at: Some("2026-02-01T00:00:00".to_owned()),
            ends_at: Some("2026-03-01T00:00:00".to_owned()),
            target: "category:茶葉".to_owned(),
            effect: "multiplier:20000".to_owned(),
            tiers: Vec::new(),
            minimum_spend_minor: 0,
            member_cap_points: Some(500),
            member_cap_period: Some("month".to_owned()),
            budget_points: None,
        },
    )?;
    Ok(())
}

/// Parses the CSV and inserts its rows into the scratch table: batched prepared INSERTs of
/// 1,000 rows per transaction on SQLite, `COPY` on PostgreSQL.
fn raw_insert(store: &store::Store, csv: &std::path::Path) -> Result<()> {
    insert_rows(store, csv, false)
}

/// The same rows, with their order id, into the keyed scratch table.
fn raw_insert_keyed(store: &store::Store, csv: &std::path::Path) -> Result<()> {
    insert_rows(store, csv, true)
}

fn insert_rows(store: &store::Store, csv: &std::path::Path, keyed: bool) -> Result<()> {
    let mut reader = csv::Reader::from_path(csv)?;
    let mut record = csv::StringRecord::new();
    let postgres = store.kind() == store::BackendKind::Postgres;
    let batch_rows = if postgres { 100_000 } else { 1_000 };
    let mut batch: Vec<(String, String, i64, i64)> = Vec::with_capacity(batch_rows);
    let flush = |batch: &mut Vec<(String, String, i64, i64)>| -> Result<()> {
        store.write(|tx| {
            if postgres {
                let mut text = String::with_capacity(batch.len() * 48);
                for (o, c, d, a) in batch.iter() {
                    if keyed {
                        text.push_str(&format!("bench\t{o}\t{c}\t{d}\t{a}\n"));
                    } else {
                        text.push_str(&format!("{c}\t{d}\t{a}\n"));
                    }
                }
                let sql = if keyed {
                    "COPY bench_keyed (source, external_id, customer, day, amount_minor) FROM STDIN"
                } else {
                    "COPY bench_scratch (customer, day, amount_minor) FROM STDIN"
                };
                tx.copy_in_text(sql, text.as_bytes())?;
            } else {
                for (o, c, d, a) in batch.iter() {
                    if keyed {
                        store::scratch::insert_keyed(tx, "bench", o, c, *d, *a)?;
                    } else {
                        store::scratch::insert(tx, c, *d, *a)?;
                    }
                }
            }
            anyhow::Ok(())
        })?;
        batch.clear();
        Ok(())
    };
    while reader.read_record(&mut record)? {
        let day: i64 = record[2][8..10].parse().context("day")?;
        let amount: i64 = record[5].parse::<i64>()? * record[6].parse::<i64>()?;
        let order = if keyed {
            record[0].to_owned()
        } else {
            String::new()
        };
        batch.push((order, record[1].to_owned(), day, amount));
        if batch.len() >= batch_rows {
            flush(&mut batch)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch)?;
    }
    Ok(())
}

/// Latencies of one phase, in microseconds, and its wall time.
struct Phase {
    latencies_us: Vec<u64>,
    seconds: f64,
    errors: u64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds
    }

    fn percentile(&mut self, p: f64) -> f64 {
        self.latencies_us.sort_unstable();
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

fn bench_http(config: &Config, seconds: u64, concurrency: usize) -> Result<()> {
    let dir =
        BenchDir(std::env::temp_dir().join(format!("patron-bench-http-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let mut bench_config = config.clone();
    bench_config.database_url = format!("sqlite://{}", dir.0.join("bench.db").display());
    let app = crate::cli::build_app(&bench_config)?;
    app.bench_scratch_create()?;
    let key = app.create_key(&Principal::cli(), Role::Integration, "bench")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, app, api::ApiOptions { bench_scratch: true }, async {
            let _ = stop_rx.await;
        }));
        // Alternate short phases so that both endpoints see the same machine conditions.
        let rounds = 4;
        let phase_secs = (seconds as f64 / (2.0 * rounds as f64)).max(0.25);
        let mut orders = Phase { latencies_us: Vec::new(), seconds: 0.0, errors: 0 };
        let mut bare = Phase { latencies_us: Vec::new(), seconds: 0.0, errors: 0 };
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for _ in 0..rounds {
            load(addr, &key, concurrency, phase_secs, Endpoint::Orders, &counter, &mut orders).await?;
            load(addr, &key, concurrency, phase_secs, Endpoint::Bare, &counter, &mut bare).await?;
        }
        let _ = stop_tx.send(());
        server.await??;
        let (o50, o99, b50, b99) = (orders.percentile(0.5), orders.percentile(0.99), bare.percentile(0.5), bare.percentile(0.99));
        println!("bench http: {seconds} s, {concurrency} keep-alive connections, SQLite");
        println!("  POST /api/v1/orders:       {:>8.0} req/s  p50 {o50:.2} ms  p99 {o99:.2} ms  ({} errors)", orders.rate(), orders.errors);
        println!("  bare authenticated insert: {:>8.0} req/s  p50 {b50:.2} ms  p99 {b99:.2} ms  ({} errors)", bare.rate(), bare.errors);
        println!("  throughput ratio: {:.3} (target ≥ 0.6)", orders.rate() / bare.rate());
        println!("  p99 ratio:        {:.3} (target ≤ 2)", o99 / b99);
        anyhow::Ok(())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Orders,
    Bare,
}

async fn load(
    addr: std::net::SocketAddr,
    key: &str,
    concurrency: usize,
    seconds: f64,
    endpoint: Endpoint,
    counter: &Arc<std::sync::atomic::AtomicU64>,
    phase: &mut Phase,
) -> Result<()> {
    let deadline = std::time::Duration::from_secs_f64(seconds);
    let watch = Stopwatch::start();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let key = key.to_owned();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Client::connect(addr).await?;
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while watch.elapsed() < deadline {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (path, body) = match endpoint {
                    Endpoint::Orders => (
                        "/api/v1/orders",
                        format!(
                            r#"{{"source":"bench","external_id":"H{n}","customer":{{"identities":{{"shop_customer_id":"C{}"}}}},"currency":"TWD","lines":[{{"sku":"TEA-OOLONG-150G","quantity":2,"unit_price_minor":68000}}]}}"#,
                            n % 5_000
                        ),
                    ),
                    Endpoint::Bare => ("/api/v1/bench/scratch", format!(r#"{{"customer":"C{}","day":{},"amount_minor":136000}}"#, n % 5_000, n % 28)),
                };
                let sent = Stopwatch::start();
                let status = conn.post(path, &key, &body).await?;
                if (200..300).contains(&status) {
                    latencies.push(sent.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    for t in tasks {
        let (l, e) = t.await??;
        phase.latencies_us.extend(l);
        phase.errors += e;
    }
    phase.seconds += watch.elapsed().as_secs_f64();
    Ok(())
}

/// A minimal HTTP/1.1 keep-alive client: enough for a benchmark, nothing more.
pub(crate) struct Client {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    host: String,
}

impl Client {
    pub(crate) async fn connect(addr: std::net::SocketAddr) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream: tokio::io::BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    pub(crate) async fn post(&mut self, path: &str, key: &str, body: &str) -> Result<u16> {
        Ok(self.post_body(path, key, body).await?.0)
    }

    /// Posts and returns the status and the response body.
    pub(crate) async fn post_body(
        &mut self,
        path: &str,
        key: &str,
        body: &str,
    ) -> Result<(u16, Vec<u8>)> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .context("status line")?
            .parse()?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

/// Lots seeded per transaction.
const EXPIRY_SEED_BATCH_LOTS: u64 = 50_000;

fn bench_expiry(config: &Config, lots: u64, accounts: u64) -> Result<()> {
    use domain::ledger::TransferKind;
    use store::ledger::{self, NewTransfer};
    if lots == 0 || accounts == 0 {
        bail!("--lots and --accounts must be at least 1");
    }
    let dir = BenchDir(std::env::temp_dir().join(format!("patron-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let url = store::DatabaseUrl::Sqlite {
        path: dir.0.join("bench.db").display().to_string(),
    };
    let store = store::Store::open(&url, &store::StoreOptions::default())?;
    let app = App::new(
        store.clone(),
        Arc::new(app::sys::SystemClock),
        Arc::new(app::sys::OsEntropy),
        Arc::new(app::webhooks::HttpSender::default()),
        config.settings(),
    );
    // Customers (and their accounts) through the real intake; orders too small to earn.
    let who = Principal::cli();
    let orders: Vec<app::intake::OrderInput> = (0..accounts)
        .map(|i| app::intake::OrderInput {
            source: "bench".to_owned(),
            external_id: format!("E{i:08}"),
            customer: app::intake::CustomerRef::Described(app::customers::CustomerInput {
                identities: vec![(domain::IdentityKind::ShopCustomerId, format!("C{i:08}"))],
                ..Default::default()
            }),
            occurred_at: None,
            currency: config.settings().currency.code().to_owned(),
            lines: vec![app::intake::LineInput {
                sku: "TEA".to_owned(),
                category: None,
                quantity: 1,
                unit_price_minor: 1,
            }],
        })
        .collect();
    for chunk in orders.chunks(500) {
        app.place_orders(&who, chunk)?;
    }
    let (account_ids, expired_at) = store.read(|tx| -> Result<(Vec<i64>, i64)> {
        let ids = tx
            .query(
                "SELECT id FROM accounts WHERE customer_id IS NOT NULL ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<Vec<i64>>>()?;
        Ok((ids, app.now_micros() - 86_400_000_000))
    })?;
    // N lots of 1 to 9 points, each already past its last valid second, under one seed event.
    let watch = Stopwatch::start();
    let mut rng = Rng::seeded(7);
    let event_id = store.write(|tx| -> Result<i64> {
        store::events::insert(
            tx,
            &store::events::NewEvent {
                source: "bench",
                external_id: "expiry-seed",
                kind: domain::EventKind::PointsCorrected,
                customer_id: None,
                order_event_id: None,
                occurred_at_micros: expired_at,
                recorded_at_micros: expired_at,
                currency: None,
                amount_minor: None,
                content_hash: &[],
                body: "{}",
            },
        )?
        .context("seed event")
    })?;
    let issuance = store.write(|tx| ledger::system_account(tx, ledger::ISSUANCE_ACCOUNT))?;
    let mut seq = 0u64;
    while seq < lots {
        let n = EXPIRY_SEED_BATCH_LOTS.min(lots - seq);
        let mut transfers = Vec::with_capacity(n as usize);
        let mut deltas: std::collections::BTreeMap<i64, i64> = Default::default();
        for i in seq..seq + n {
            let account = account_ids[(i % account_ids.len() as u64) as usize];
            let amount = 1 + rng.below(9) as i64;
            *deltas.entry(account).or_default() += amount;
            transfers.push(NewTransfer {
                event_id,
                seq: i as i64,
                debit_account_id: issuance,
                credit_account_id: account,
                amount,
                kind: TransferKind::Correction,
                created_at_micros: expired_at,
                remaining: Some(amount),
                pending_until_micros: None,
                expires_at_micros: Some(expired_at + i as i64 % 1_000),
                lot: None,
                reason: Some("bench"),
                lot_state: None,
                lines: Vec::new(),
                revenue: None,
            });
        }
        let deltas: Vec<(i64, i64)> = deltas.into_iter().collect();
        store.write(|tx| -> Result<()> {
            ledger::insert_transfers(tx, &transfers)?;
            ledger::add_to_balances(tx, &deltas)?;
            Ok(())
        })?;
        seq += n;
    }
    let seeded = watch.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();
    let watch = Stopwatch::start();
    let expired_points = app.expire_due()?;
    let took = watch.elapsed().as_secs_f64();
    let left = store.read(|tx| -> Result<i64> {
        tx.query_one(
            "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM accounts WHERE customer_id IS NOT NULL",
            &[],
        )?
        .int(0)
    })?;
    println!(
        "bench expiry: {lots} lots over {} accounts on SQLite",
        account_ids.len()
    );
    println!("  seeding            {seeded:.1} s");
    println!(
        "  expiry job         {took:.2} s — {:.2} s per million lots, {:.0} lots/s; {expired_points} points expired, {left} left",
        took / (lots as f64 / 1e6),
        lots as f64 / took
    );
    println!(
        "  peak RSS           {:.0} MiB (after seeding {:.0} MiB)",
        peak_rss_mib(),
        rss_before
    );
    // The whole ledger's invariants afterwards (one grouped pass per figure).
    let watch = Stopwatch::start();
    let check = store.read(store::ledger::check)?;
    println!(
        "  ledger check       {} ({:.1} s)",
        if check.is_healthy() {
            "healthy".to_owned()
        } else {
            format!("{check:?}")
        },
        watch.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The shipped test split, used as benchmark messages.
const CLASSIFY_BENCH_SET: &str = include_str!("../../../testdata/desk/messages_test.jsonl");

/// Messages classified per second and per-message p50/p99, against the time to normalise and
/// extract the same messages' n-grams (the least any n-gram classifier does).
fn bench_classify(messages: usize) -> Result<()> {
    use app::desk::classifier::{parse_messages, shipped_classifier, shipped_examples};
    use domain::desk::classify::Classifier;
    use domain::desk::classify::model::{count_ngrams, normalize};
    if messages == 0 {
        bail!("--messages must be at least 1");
    }
    let set = parse_messages(CLASSIFY_BENCH_SET).map_err(|e| anyhow::anyhow!("{e}"))?;
    let texts: Vec<&str> = (0..messages)
        .map(|i| set[i % set.len()].text.as_str())
        .collect();
    let examples = shipped_examples();
    let sw = Stopwatch::start();
    let trained = Classifier::train(&examples).map_err(|e| anyhow::anyhow!("{e}"))?;
    let train_s = sw.elapsed().as_secs_f64();
    drop(trained);
    let classifier = shipped_classifier();
    // Reference: normalise and extract n-grams.
    let sw = Stopwatch::start();
    let mut grams = 0usize;
    for t in &texts {
        grams += count_ngrams(&normalize(t));
    }
    let tokenise_s = sw.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(texts.len());
    let mut found = 0usize;
    let sw = Stopwatch::start();
    for t in &texts {
        let one = Stopwatch::start();
        let a = classifier.analyse(None, t);
        latencies.push(one.elapsed().as_nanos() as u64);
        found += a.category as usize;
    }
    let classify_s = sw.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "training on {} shipped examples: {:.3} s",
        examples.len(),
        train_s
    );
    println!(
        "classify  {messages} messages: {:.0} messages/s, p50 {:.1} µs, p99 {:.1} µs",
        messages as f64 / classify_s,
        pct(0.50),
        pct(0.99)
    );
    println!(
        "tokenise  {messages} messages: {:.0} messages/s ({grams} n-grams)",
        messages as f64 / tokenise_s
    );
    println!(
        "ratio (classify time / tokenise time): {:.2}  [checksum {found}]",
        classify_s / tokenise_s
    );
    Ok(())
}
