//! `patron bench analytics`: Patron's CLV pipeline (read CSV + summary + BG/NBD + Gamma-Gamma
//! and 12-month CLV) and Pareto/NBD fit against the Python `lifetimes` library, on the same
//! seeded transaction log, in the same run. A benchmark, not a test: nothing here asserts.
//!
//! The log follows `../shared/bench/gen_bgnbd.py`'s process (BG/NBD purchases, Gamma-Gamma
//! spend, CDNOW's parameters, 78 weeks, births over 12 weeks), drawn by a seeded generator
//! in Rust and written as `customer_id,date,amount` with the `.meta.json` sidecar the
//! lifetimes scripts read. lifetimes runs each step in its own process through
//! `lifetimes_scale.py` under `/usr/bin/time -v` (its own step timings, peak RSS per process);
//! Patron's peak RSS is this process's high-water mark, reset before each side
//! (`/proc/self/clear_refs`). Patron reads the CSV and summarises it in one pass
//! (`analytics::csv_summary`), so those two steps are timed together on both sides.

use crate::bench::peak_rss_mib;
use analytics::calendar::{civil_from_days, days_from_civil};
use analytics::clv::{self, ClvOptions};
use analytics::models::gamma_gamma::{self, SpendRow};
use analytics::models::{CustomerRow, FitOptions, ModelParams, bgnbd, paretonbd};
use analytics::summary::{CustomerSummary, TimeScale};
use anyhow::{Context, Result, bail};
use app::sys::Stopwatch;
use app::workload::Rng;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The generator's settings (gen_bgnbd.py's defaults: CDNOW estimates, time in weeks).
#[derive(Debug, Clone, Copy)]
struct Process {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    p: f64,
    q: f64,
    gamma: f64,
    weeks: f64,
    birth_weeks: f64,
}

const CDNOW_PROCESS: Process = Process {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
    p: 6.25,
    q: 3.74,
    gamma: 15.44,
    weeks: 78.0,
    birth_weeks: 12.0,
};

/// First day of the generated logs.
const START: (i32, u32, u32) = (2020, 1, 1);

/// A seeded log of `customers` drawn from [`CDNOW_PROCESS`]: (day offset, customer,
/// cents) rows sorted by day then customer, and how many customers bought again.
fn draw(customers: u64, seed: u64) -> (Vec<(u32, u32, u32)>, u64) {
    let g = CDNOW_PROCESS;
    let mut rng = Rng::seeded(seed);
    let mut rows: Vec<(u32, u32, u32)> = Vec::new(); // (day, customer, cents)
    let mut repeat_buyers = 0u64;
    for customer in 1..=customers as u32 {
        let birth = rng.unit() * g.birth_weeks;
        let lambda = rng.gamma(g.r, 1.0 / g.alpha).max(1e-300);
        let drop = rng.beta(g.a, g.b);
        let nu = rng.gamma(g.q, 1.0 / g.gamma);
        let spend = |rng: &mut Rng| {
            let cents = (rng.gamma(g.p, 1.0) / nu * 100.0).round().max(1.0);
            cents.min(f64::from(u32::MAX)) as u32
        };
        rows.push(((birth * 7.0) as u32, customer, spend(&mut rng)));
        let mut t = birth;
        let mut repeats = 0;
        loop {
            t += -(1.0 - rng.unit()).ln() / lambda;
            if t >= g.weeks {
                break;
            }
            rows.push(((t * 7.0) as u32, customer, spend(&mut rng)));
            repeats += 1;
            if rng.unit() < drop {
                break;
            }
        }
        repeat_buyers += u64::from(repeats > 0);
    }
    rows.sort_unstable();
    (rows, repeat_buyers)
}

/// Writes a seeded log of `customers` and its meta sidecar; returns (rows, observation end).
fn generate(path: &Path, customers: u64, seed: u64) -> Result<(usize, String)> {
    let g = CDNOW_PROCESS;
    let (rows, repeat_buyers) = draw(customers, seed);
    let start = days_from_civil(START.0, START.1, START.2);
    let day_text = |offset: i32| {
        let (y, m, d) = civil_from_days(start + offset);
        format!("{y:04}-{m:02}-{d:02}")
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "customer_id,date,amount")?;
    let mut last_day = u32::MAX;
    let mut date = String::new();
    for &(day, customer, cents) in &rows {
        if day != last_day {
            date = day_text(day as i32);
            last_day = day;
        }
        writeln!(out, "{customer},{date},{}.{:02}", cents / 100, cents % 100)?;
    }
    out.flush()?;
    let end_day = (g.weeks * 7.0).ceil() as i32 - 1;
    let observation_end = day_text(end_day);
    let meta = serde_json::json!({
        "customers": customers, "rows": rows.len(), "seed": seed,
        "start": day_text(0), "observation_period_end": observation_end,
        "weeks": g.weeks, "birth_weeks": g.birth_weeks,
        "true_params": {"r": g.r, "alpha": g.alpha, "a": g.a, "b": g.b,
                        "p": g.p, "q": g.q, "gamma": g.gamma, "time_unit": "week"},
        "repeat_buyers": repeat_buyers,
        "generator": "patron bench analytics (gen_bgnbd.py's process)",
    });
    std::fs::write(
        format!("{}.meta.json", path.display()),
        serde_json::to_string_pretty(&meta)?,
    )?;
    Ok((rows.len(), observation_end))
}

/// Resets this process's peak-RSS mark (Linux), so each side is measured on its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One measured step: seconds and fitted parameters.
#[derive(Debug, Default, Clone)]
struct Step {
    seconds: f64,
    params: Vec<(String, f64)>,
}

#[derive(Debug, Default)]
struct PatronRun {
    /// The CSV read and the summary are one pass on Patron's side.
    read_summary: Step,
    bgnbd: Step,
    gamma_gamma: Step,
    clv: Step,
    clv_total: f64,
    peak_rss_mib: f64,
}

fn named<P: ModelParams>(p: &P) -> Vec<(String, f64)> {
    P::NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .zip(p.to_vec())
        .collect()
}

/// Reads the log as `patron analytics` does and summarises it in one pass
/// ([`analytics::csv_summary`]).
fn read_and_summarize(csv: &Path, observation_end: &str) -> Result<Vec<CustomerSummary>> {
    let bytes = crate::analytics_cmd::read_input(csv)?;
    let end = analytics::parse::parse_date(observation_end).context("observation end")?;
    let summary = analytics::csv_summary::summarize_csv(
        &bytes,
        &analytics::parse::CsvOptions::default(),
        &TimeScale::DAYS_IN_WEEKS,
        end,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
    Ok(summary.summaries)
}

fn patron_clv_pipeline(csv: &Path, observation_end: &str) -> Result<PatronRun> {
    reset_peak_rss();
    let mut run = PatronRun::default();
    let watch = Stopwatch::start();
    let summaries = read_and_summarize(csv, observation_end)?;
    run.read_summary.seconds = watch.elapsed().as_secs_f64();
    let watch = Stopwatch::start();
    let rows: Vec<CustomerRow> = summaries.iter().map(CustomerSummary::row).collect();
    let purchase =
        bgnbd::fit(&rows, &FitOptions::default()).map_err(|e| anyhow::anyhow!("BG/NBD: {e}"))?;
    drop(rows);
    run.bgnbd = Step {
        seconds: watch.elapsed().as_secs_f64(),
        params: named(&purchase.params),
    };
    let watch = Stopwatch::start();
    let spend_rows: Vec<SpendRow> = summaries
        .iter()
        .filter(|s| s.frequency > 0 && s.monetary_value > 0.0)
        .map(|s| SpendRow {
            frequency: s.frequency,
            monetary_value: s.monetary_value,
        })
        .collect();
    let spend = gamma_gamma::fit(&spend_rows, &FitOptions::default())
        .map_err(|e| anyhow::anyhow!("Gamma-Gamma: {e}"))?;
    drop(spend_rows);
    run.gamma_gamma = Step {
        seconds: watch.elapsed().as_secs_f64(),
        params: named(&spend.params),
    };
    let watch = Stopwatch::start();
    let options = ClvOptions::lifetimes_compatible(12, clv::MONTH_WEEKS_LIFETIMES, 0.01);
    let values =
        clv::customer_lifetime_values(&purchase.params, &spend.params, &summaries, &options)
            .map_err(|e| anyhow::anyhow!("CLV: {e}"))?;
    run.clv.seconds = watch.elapsed().as_secs_f64();
    run.clv_total = values.iter().sum();
    run.peak_rss_mib = peak_rss_mib();
    Ok(run)
}

fn patron_pareto(csv: &Path, observation_end: &str) -> Result<(Step, f64)> {
    let summaries = read_and_summarize(csv, observation_end)?;
    let rows: Vec<CustomerRow> = summaries.iter().map(CustomerSummary::row).collect();
    reset_peak_rss();
    let watch = Stopwatch::start();
    let fit = paretonbd::fit(&rows, &FitOptions::default())
        .map_err(|e| anyhow::anyhow!("Pareto/NBD: {e}"))?;
    Ok((
        Step {
            seconds: watch.elapsed().as_secs_f64(),
            params: named(&fit.params),
        },
        peak_rss_mib(),
    ))
}

/// One lifetimes step run in its own process.
#[derive(Debug, Default, Clone)]
struct PythonStep {
    seconds: f64,
    read_seconds: f64,
    peak_rss_mib: f64,
    params: Vec<(String, f64)>,
    clv_total: Option<f64>,
}

fn lifetimes_step(python: &Path, scripts: &Path, csv: &Path, step: &str) -> Result<PythonStep> {
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(python)
        .arg(scripts.join("lifetimes_scale.py"))
        .args(["--csv", &csv.display().to_string(), "--step", step])
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .with_context(|| format!("running lifetimes step {step}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "lifetimes step {step} failed: {}",
            stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .context("lifetimes printed no JSON")?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let rss_kib = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok(PythonStep {
        seconds: v["step_s"].as_f64().unwrap_or(0.0),
        read_seconds: v["read_csv_s"].as_f64().unwrap_or(0.0),
        peak_rss_mib: rss_kib / 1024.0,
        params: v["params"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
                    .collect()
            })
            .unwrap_or_default(),
        clv_total: v["clv_total"].as_f64(),
    })
}

fn ratio(reference: f64, ours: f64) -> String {
    if ours > 0.0 {
        format!("{:.1}×", reference / ours)
    } else {
        "—".to_owned()
    }
}

/// Prints our parameters next to lifetimes' (which names Gamma-Gamma's γ `v`).
fn print_params(model: &str, ours: &[(String, f64)], theirs: &[(String, f64)]) {
    for (name, value) in ours {
        let their_name = if name == "gamma" && model == "gg" {
            "v"
        } else {
            name
        };
        let other = theirs
            .iter()
            .find(|(n, _)| n == their_name)
            .map(|(_, v)| *v);
        match other {
            Some(o) => println!(
                "  {model:<6} {name:<6} patron {value:>14.6}  lifetimes {o:>14.6}  relative difference {:.2e}",
                ((value - o) / o).abs()
            ),
            None => println!("  {model:<6} {name:<6} patron {value:>14.6}  lifetimes (none)"),
        }
    }
}

fn label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

/// Runs the benchmark: CLV pipeline at `customers`, Pareto/NBD at `pnbd_customers`.
pub fn run(
    customers: u64,
    pnbd_customers: u64,
    seed: u64,
    python: Option<PathBuf>,
    scripts: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let python = python.unwrap_or_else(|| target.join("lifetimes-venv/bin/python"));
    let scripts = scripts.unwrap_or_else(|| PathBuf::from("../shared/bench"));
    let data_dir = data_dir.unwrap_or_else(|| target.join("bench-data"));
    if !python.exists() {
        bail!(
            "no Python with lifetimes at {}: create it as ../shared/bench/README.md shows, or pass --python",
            python.display()
        );
    }
    if !scripts.join("lifetimes_scale.py").exists() {
        bail!(
            "no lifetimes_scale.py in {}: pass --scripts",
            scripts.display()
        );
    }
    std::fs::create_dir_all(&data_dir)?;
    let csv = data_dir.join(format!("patron_synth_{}_{seed}.csv", label(customers)));
    let watch = Stopwatch::start();
    let (rows, end) = generate(&csv, customers, seed)?;
    println!(
        "log: {customers} customers, {rows} rows, observation end {end}, seed {seed} ({:.1} s to generate) → {}",
        watch.elapsed().as_secs_f64(),
        csv.display()
    );

    println!("\nCLV pipeline at {} customers", label(customers));
    let ours = patron_clv_pipeline(&csv, &end)?;
    let mut theirs = Vec::new();
    for step in ["summary", "bgf", "ggf", "clv"] {
        eprintln!("lifetimes: {step} …");
        theirs.push(lifetimes_step(&python, &scripts, &csv, step)?);
    }
    let (ls, lb, lg, lc) = (&theirs[0], &theirs[1], &theirs[2], &theirs[3]);
    println!(
        "  {:<22} {:>11} {:>11} {:>8}",
        "step", "patron s", "lifetimes s", "ratio"
    );
    let rows_out = [
        (
            "read CSV + summary",
            ours.read_summary.seconds,
            ls.read_seconds + ls.seconds,
        ),
        ("BG/NBD fit", ours.bgnbd.seconds, lb.seconds),
        ("Gamma-Gamma fit", ours.gamma_gamma.seconds, lg.seconds),
        ("CLV 12 months", ours.clv.seconds, lc.seconds),
    ];
    for (name, p, l) in rows_out {
        println!("  {name:<22} {p:>11.3} {l:>11.3} {:>8}", ratio(l, p));
    }
    let ours_total: f64 = rows_out.iter().map(|r| r.1).sum();
    let theirs_total: f64 = rows_out.iter().map(|r| r.2).sum();
    println!(
        "  {:<22} {ours_total:>11.3} {theirs_total:>11.3} {:>8}",
        "pipeline end to end",
        ratio(theirs_total, ours_total)
    );
    let their_peak = theirs.iter().map(|s| s.peak_rss_mib).fold(0.0, f64::max);
    println!(
        "  peak RSS: patron {:.0} MiB, lifetimes {:.0} MiB (largest step process); patron/lifetimes = {:.2}",
        ours.peak_rss_mib,
        their_peak,
        ours.peak_rss_mib / their_peak.max(1e-9)
    );
    print_params("bgnbd", &ours.bgnbd.params, &lb.params);
    print_params("gg", &ours.gamma_gamma.params, &lg.params);
    if let Some(total) = lc.clv_total {
        println!(
            "  CLV total: patron {:.2}, lifetimes {total:.2} (relative difference {:.2e})",
            ours.clv_total,
            ((ours.clv_total - total) / total).abs()
        );
    }

    if pnbd_customers > 0 {
        let pcsv = if pnbd_customers == customers {
            csv.clone()
        } else {
            let path = data_dir.join(format!("patron_synth_{}_{seed}.csv", label(pnbd_customers)));
            generate(&path, pnbd_customers, seed)?;
            path
        };
        println!("\nPareto/NBD fit at {} customers", label(pnbd_customers));
        let (p, rss) = patron_pareto(&pcsv, &end)?;
        eprintln!("lifetimes: summary, pnbd …");
        lifetimes_step(&python, &scripts, &pcsv, "summary")?;
        let l = lifetimes_step(&python, &scripts, &pcsv, "pnbd")?;
        println!(
            "  fit: patron {:.3} s, lifetimes {:.3} s, ratio {}",
            p.seconds,
            l.seconds,
            ratio(l.seconds, p.seconds)
        );
        println!(
            "  peak RSS: patron {rss:.0} MiB (after reading), lifetimes {:.0} MiB",
            l.peak_rss_mib
        );
        print_params("pnbd", &p.params, &l.params);
    }
    Ok(())
}

/// Resident set size of this process now, in MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Rows per multi-row INSERT while filling the store.
const FILL_STATEMENT_ROWS: usize = 500;
/// Rows per transaction while filling the store.
const FILL_TRANSACTION_ROWS: usize = 100_000;

/// Inserts `rows` (already formatted `(...)` value tuples) into `table` in batches.
fn insert_rows(store: &store::Store, head: &str, rows: impl Iterator<Item = String>) -> Result<()> {
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut sql = String::new();
        let mut in_transaction = 0;
        while in_transaction < FILL_TRANSACTION_ROWS && rows.peek().is_some() {
            sql.push_str(head);
            for (i, row) in rows.by_ref().take(FILL_STATEMENT_ROWS).enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&row);
                in_transaction += 1;
            }
            sql.push_str(";\n");
        }
        store.write(|tx| tx.batch(&sql))?;
    }
    Ok(())
}

/// `patron bench refit`: fills a scratch SQLite store with `customers` customers and the
/// orders of the benchmark's seeded log (direct SQL, integers only), then runs the real
/// refit (`App::refit_analytics`: paged order reads, summaries, BG/NBD + Gamma-Gamma,
/// RFM, every prediction written) and reports its time and this process's peak RSS
/// during it, against the bound of half lifetimes' peak on the CLV pipeline.
pub fn run_refit(
    config: &crate::config::Config,
    customers: u64,
    seed: u64,
    lifetimes_peak_mib: f64,
) -> Result<()> {
    if customers == 0 || customers > u64::from(u32::MAX) {
        bail!("--customers must be between 1 and {}", u32::MAX);
    }
    let dir = crate::bench::BenchDir(
        std::env::temp_dir().join(format!("patron-bench-refit-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0)?;
    let url = store::DatabaseUrl::Sqlite {
        path: dir.0.join("bench.db").display().to_string(),
    };
    let store = store::Store::open(&url, &store::StoreOptions::default())?;
    let app = app::App::new(
        store.clone(),
        std::sync::Arc::new(app::sys::SystemClock),
        std::sync::Arc::new(app::sys::OsEntropy),
        std::sync::Arc::new(app::webhooks::HttpSender::default()),
        config.settings(),
    );
    let watch = Stopwatch::start();
    let (rows, _) = draw(customers, seed);
    // The log's first day, shifted so that its last day is yesterday.
    let last = rows.last().map_or(0, |r| r.0);
    let today = analytics::pipeline::day_of_micros(app.now_micros());
    let first_day = i64::from(today) - 1 - i64::from(last);
    let currency = config.settings().currency.code().to_owned();
    insert_rows(
        &store,
        "INSERT INTO customers (id, locale, time_zone, created_at, updated_at) VALUES ",
        (1..=customers).map(|c| format!("({c},'en','UTC',0,0)")),
    )?;
    let order_count = rows.len();
    insert_rows(
        &store,
        "INSERT INTO events (source, external_id, kind, customer_id, occurred_at, recorded_at, \
         currency, amount_minor, content_hash, body) VALUES ",
        rows.into_iter().enumerate().map(|(i, (day, customer, cents))| {
            // Noon of the order's day, in microseconds.
            let at = (first_day + i64::from(day)) * analytics::pipeline::DAY_MICROS
                + analytics::pipeline::DAY_MICROS / 2;
            format!(
                "('bench','R{i}','order_placed',{customer},{at},{at},'{currency}',{cents},X'','{{}}')"
            )
        }),
    )?;
    println!(
        "store: {customers} customers, {order_count} orders (SQLite, {:.1} s to fill)",
        watch.elapsed().as_secs_f64()
    );
    // Measured as `patron analytics refit` runs: on a freshly opened store, not the
    // filling connection with its warm cache.
    drop(app);
    drop(store);
    let store = store::Store::open(&url, &store::StoreOptions::default())?;
    let app = app::App::new(
        store,
        std::sync::Arc::new(app::sys::SystemClock),
        std::sync::Arc::new(app::sys::OsEntropy),
        std::sync::Arc::new(app::webhooks::HttpSender::default()),
        config.settings(),
    );
    let before = rss_mib();
    reset_peak_rss();
    let watch = Stopwatch::start();
    let outcome = app
        .refit_analytics(&app::Principal::cli())
        .map_err(|e| anyhow::anyhow!("refit: {e}"))?;
    let seconds = watch.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    println!(
        "refit: {} customers, {} orders, {} predictions in {seconds:.2} s; converged {}; BG/NBD {}",
        outcome.customers,
        outcome.orders,
        outcome.predictions,
        outcome.converged,
        outcome.purchase_params
    );
    println!(
        "  peak RSS during the refit: {peak:.0} MiB (RSS before it {before:.0} MiB); \
         lifetimes' CLV pipeline peak {lifetimes_peak_mib:.0} MiB; patron/lifetimes = {:.2} (bound ≤ 0.5)",
        peak / lifetimes_peak_mib.max(1e-9)
    );
    Ok(())
}
