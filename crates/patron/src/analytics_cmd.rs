//! `patron analytics`: the retention and CLV numerics of the `analytics` crate on any
//! transaction file, without a database (summary, fit, predict, clv, rfm, cohorts, kpis),
//! plus `refit`, which refits the models on the store's orders and writes predictions.
//!
//! Input is a CSV with a header (lifetimes' `customer_id,date,amount` by default, other
//! column names and date layouts by flag) or CDNOW's whitespace files. Errors name the file,
//! line and column; degenerate data (no rows, one customer, nobody repeating, purchases
//! after the observation end) gets an error or a `warning:` line on stderr, never a NaN.

mod output;

use crate::config::Config;
use crate::progress::Progress;
use analytics::calendar::civil_from_days;
use analytics::clv::{self, ClvOptions};
use analytics::csv_summary::{self, CustomerKeys};
use analytics::models::bgbb::{self, BgBbRow};
use analytics::models::gamma_gamma::{self, GammaGammaParams, SpendRow};
use analytics::models::{
    self, CustomerRow, FitOptions, FitReport, FitWarning, ModelParams, PurchaseModel, bgnbd,
    mbgnbd, paretonbd,
};
use analytics::parse::{self, CsvOptions, DateFormat};
use analytics::summary::{self, CustomerSummary, PeriodUnit, TimeScale, Transaction};
use anyhow::{Context, Result, bail};
use output::{Cell, Table};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

pub use output::OutputFormat;

/// Days in an average Gregorian month, for converting day horizons into month units.
const MONTH_DAYS_AVERAGE: f64 = 30.436_875;

#[derive(Debug, clap::Args)]
pub struct AnalyticsArgs {
    #[command(subcommand)]
    pub command: AnalyticsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AnalyticsCommand {
    /// Per-customer summary: frequency, recency, T, monetary value (and holdout with --calibration-end).
    Summary(InputArgs),
    /// Fit a model by maximum likelihood and print parameters and the convergence report.
    Fit(FitArgs),
    /// P(alive) and expected purchases per customer (holdout comparison with --calibration-end).
    Predict(PredictArgs),
    /// Customer lifetime value from BG/NBD + Gamma-Gamma (lifetimes-compatible discounting).
    Clv(ClvArgs),
    /// R/F/M quintile scores and named segments.
    Rfm(RfmArgs),
    /// Cohort retention matrix by first-purchase month.
    Cohorts(InputArgs),
    /// Period KPIs: retention, churn, repeat rate, frequency, AOV, CLV, LTV:CAC.
    Kpis(KpiArgs),
    /// Refit BG/NBD + Gamma-Gamma on the store's orders and write per-customer predictions.
    Refit(RefitArgs),
}

/// Where the transactions come from and how to read them.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Transaction file.
    pub file: PathBuf,
    /// csv, cdnow (CDNOW_sample or CDNOW_master, told apart by their columns) or bgbb
    /// (compressed frequency,recency,periods,weights rows; fit --model bgbb only).
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Column holding the customer key.
    #[arg(long, default_value = "customer_id")]
    pub customer_column: String,
    /// Column holding the purchase date.
    #[arg(long, default_value = "date")]
    pub date_column: String,
    /// Column holding the amount; `none` when the file has no amounts.
    #[arg(long, default_value = "amount")]
    pub amount_column: String,
    /// Date layout with %Y, %m, %d (default: YYYY-MM-DD or YYYYMMDD, a time after it ignored).
    #[arg(long)]
    pub date_format: Option<String>,
    /// Period within which a customer's purchases merge: D (day), W (Monday–Sunday week), M (month).
    #[arg(long, default_value = "D")]
    pub freq: String,
    /// Time unit = this many periods (default: 7 for CDNOW, so times are in weeks; 1 otherwise).
    #[arg(long)]
    pub multiplier: Option<f64>,
    /// Last day observed (default: the last purchase date).
    #[arg(long)]
    pub observation_end: Option<String>,
    /// End of the calibration period: models fit on purchases up to it, holdout after it.
    #[arg(long)]
    pub calibration_end: Option<String>,
    /// table, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Print at most this many customer rows.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// bgnbd, mbgnbd, pnbd, bgbb or gg.
    #[arg(long, default_value = "bgnbd")]
    pub model: String,
    /// L2 penalty on the parameters, as in lifetimes.
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// bgnbd, mbgnbd or pnbd.
    #[arg(long, default_value = "bgnbd")]
    pub model: String,
    /// Horizon of the expected purchases, in days (default: the holdout with
    /// --calibration-end, else 90).
    #[arg(long)]
    pub horizon_days: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct ClvArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Horizon in months.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Monthly discount rate.
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
}

#[derive(Debug, clap::Args)]
pub struct RfmArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Print customers per segment instead of one row per customer.
    #[arg(long)]
    pub segments: bool,
}

#[derive(Debug, clap::Args)]
pub struct KpiArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// First day of the period (default: 90 days before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the period (default: the observation end).
    #[arg(long)]
    pub to: Option<String>,
    /// Customer acquisition cost, for LTV:CAC (LTV = mean 12-month CLV).
    #[arg(long)]
    pub cac: Option<f64>,
    /// Carts started in the period, for cart abandonment.
    #[arg(long)]
    pub carts: Option<u64>,
    /// Checkouts completed in the period, for cart abandonment.
    #[arg(long)]
    pub checkouts: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct RefitArgs {
    /// Print the recorded fit as table, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

pub fn run(config: &Config, args: AnalyticsArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match args.command {
        AnalyticsCommand::Summary(input) => summary_cmd(&mut out, &input),
        AnalyticsCommand::Fit(args) => fit_cmd(&mut out, &args),
        AnalyticsCommand::Predict(args) => predict_cmd(&mut out, &args),
        AnalyticsCommand::Clv(args) => clv_cmd(&mut out, &args),
        AnalyticsCommand::Rfm(args) => rfm_cmd(&mut out, &args),
        AnalyticsCommand::Cohorts(input) => cohorts_cmd(&mut out, &input),
        AnalyticsCommand::Kpis(args) => kpis_cmd(&mut out, &args),
        AnalyticsCommand::Refit(args) => refit_cmd(&mut out, config, &args),
    }
}

fn warn(message: impl std::fmt::Display) {
    eprintln!("warning: {message}");
}

/// Says what a long step is doing, on a terminal only.
fn step(message: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("{message}…");
    }
}

/// Customer keys of a loaded input.
#[derive(Debug)]
enum Keys {
    /// CDNOW: the key is the number itself.
    Numbers,
    /// From the transaction reader: `keys[customer]`.
    Strings(Vec<String>),
    /// From the one-pass CSV summary.
    Csv(CustomerKeys),
}

/// A loaded input with its customer keys and time settings: every transaction, or
/// (a CSV whose commands need only the summary) the summaries straight from the file.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// Every transaction; empty when `summaries` came straight from the CSV.
    pub(crate) transactions: Vec<Transaction>,
    /// Summaries up to the observation end, read in one pass over the CSV.
    summaries: Option<Vec<CustomerSummary>>,
    keys: Keys,
    pub(crate) scale: TimeScale,
    pub(crate) observation_end: i32,
    pub(crate) calibration_end: Option<i32>,
    /// Days per time unit (for horizons given in days).
    pub(crate) unit_days: f64,
}

/// What a command needs from its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// The per-customer summaries only: a CSV without a calibration split is summarised
    /// in one pass as it is read ([`csv_summary::summarize_csv_with`]).
    Summaries,
    /// Every transaction (holdout, cohorts, KPIs).
    Transactions,
}

impl Loaded {
    fn key(&self, customer: u64) -> String {
        let found = match &self.keys {
            Keys::Numbers => None,
            Keys::Strings(keys) => keys.get(customer as usize).cloned(),
            Keys::Csv(keys) => keys.get(customer as usize).map(|k| k.into_owned()),
        };
        found.unwrap_or_else(|| customer.to_string())
    }

    /// The end of the period the models are fitted on.
    fn fit_end(&self) -> i32 {
        self.calibration_end.unwrap_or(self.observation_end)
    }
}

fn format_day(day: i32) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

fn parse_day(flag: &str, text: &str) -> Result<i32> {
    parse::parse_date(text.trim())
        .with_context(|| format!("{flag} {text:?}: expected a date as YYYY-MM-DD"))
}

fn time_scale(input: &InputArgs, cdnow: bool) -> Result<(TimeScale, f64)> {
    let (unit, period_days) = match input.freq.as_str() {
        "D" | "d" => (PeriodUnit::Day, 1.0),
        "W" | "w" => (PeriodUnit::Week, 7.0),
        "M" | "m" => (PeriodUnit::Month, MONTH_DAYS_AVERAGE),
        other => bail!("--freq {other:?}: use D, W or M"),
    };
    let multiplier = input
        .multiplier
        .unwrap_or(if cdnow && unit == PeriodUnit::Day {
            7.0
        } else {
            1.0
        });
    if !(multiplier.is_finite() && multiplier > 0.0) {
        bail!("--multiplier must be a positive number, got {multiplier}");
    }
    Ok((TimeScale { unit, multiplier }, period_days * multiplier))
}

/// Files of at least this many bytes are read by two threads, one half each.
const PARALLEL_READ_BYTES_MIN: usize = 8 << 20;
/// Bytes per read call (and progress update).
const READ_BLOCK_BYTES: usize = 4 << 20;

/// Reads a whole file into memory with a progress bar. Large files are read in two
/// halves by two threads (the kernel's copy and the first touch of fresh pages are
/// most of the time of reading a cached file, and they split).
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    let name = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
    let len = usize::try_from(
        file.metadata()
            .with_context(|| format!("reading {name}"))?
            .len(),
    )
    .with_context(|| format!("{name}: too large"))?;
    // Zeroed by the allocator lazily: each half's pages are first touched by its reader.
    let mut bytes = vec![0u8; len];
    let (bytes_done, lines_done) = (AtomicU64::new(0), AtomicU64::new(0));
    let read_part = |part: &mut [u8], offset: usize, mut progress: Option<&mut Progress>| {
        for (k, block) in part.chunks_mut(READ_BLOCK_BYTES).enumerate() {
            file.read_exact_at(block, (offset + k * READ_BLOCK_BYTES) as u64)?;
            let lines = block.iter().filter(|&&b| b == b'\n').count() as u64;
            let done = bytes_done.fetch_add(block.len() as u64, Ordering::Relaxed);
            let rows = lines_done.fetch_add(lines, Ordering::Relaxed);
            if let Some(p) = progress.as_deref_mut() {
                p.update(done + block.len() as u64, rows + lines);
            }
        }
        std::io::Result::Ok(())
    };
    let mut progress = Progress::new(len as u64);
    let split = if len >= PARALLEL_READ_BYTES_MIN {
        len / 2
    } else {
        len
    };
    let (head, tail) = bytes.split_at_mut(split);
    std::thread::scope(|scope| {
        let other = (!tail.is_empty()).then(|| scope.spawn(|| read_part(tail, split, None)));
        read_part(head, 0, Some(&mut progress))?;
        match other.map(|h| h.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the reading thread panicked")),
            None => Ok(()),
        }
    })
    .with_context(|| format!("reading {name}"))?;
    progress.finish();
    Ok(bytes)
}

/// Reads `path` as text with a progress bar (CDNOW parsers take the whole text).
fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_input(path)?)
        .with_context(|| format!("{}: not readable as UTF-8 text", path.display()))
}

fn csv_options(input: &InputArgs) -> Result<CsvOptions> {
    let amount_column = match input.amount_column.as_str() {
        "none" => None,
        other => Some(other.to_owned()),
    };
    Ok(CsvOptions {
        customer_column: input.customer_column.clone(),
        date_column: input.date_column.clone(),
        amount_column,
        date_format: input
            .date_format
            .as_deref()
            .map(DateFormat::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--date-format: {e}"))?,
    })
}

/// The calibration end given, checked against the observation end.
fn calibration_end(input: &InputArgs, observation_end: i32) -> Result<Option<i32>> {
    let calibration_end = input
        .calibration_end
        .as_deref()
        .map(|t| parse_day("--calibration-end", t))
        .transpose()?;
    if let Some(c) = calibration_end
        && c >= observation_end
    {
        bail!(
            "--calibration-end {} must be before the observation end {}",
            format_day(c),
            format_day(observation_end)
        );
    }
    Ok(calibration_end)
}

/// Says how many purchases fall after the observation end: an error when all do.
fn check_after_end(name: &str, after: usize, total: usize, observation_end: i32) -> Result<()> {
    if total == 0 {
        bail!("{name}: no transactions (the file is empty or has only a header)");
    }
    if after == total {
        bail!(
            "{name}: every purchase is after the observation end {}",
            format_day(observation_end)
        );
    }
    if after > 0 {
        warn(format_args!(
            "{name}: {after} purchases after the observation end {} are ignored",
            format_day(observation_end)
        ));
    }
    Ok(())
}

/// A CSV summarised in one pass as it is read, up to the observation end.
fn load_csv_summaries(input: &InputArgs, options: &CsvOptions) -> Result<Loaded> {
    let name = input.file.display().to_string();
    let (scale, unit_days) = time_scale(input, false)?;
    let observation_end = input
        .observation_end
        .as_deref()
        .map(|t| parse_day("--observation-end", t))
        .transpose()?;
    let bytes = read_input(&input.file)?;
    step("summarising");
    let summary = csv_summary::summarize_csv_with(&bytes, options, &scale, observation_end)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    drop(bytes);
    let observation_end = match summary.observation_end_day {
        Some(end) => end,
        None => bail!("{name}: no transactions (the file is empty or has only a header)"),
    };
    check_after_end(
        &name,
        summary.transactions_after_end as usize,
        summary.transactions as usize,
        observation_end,
    )?;
    Ok(Loaded {
        transactions: Vec::new(),
        summaries: Some(summary.summaries),
        keys: Keys::Csv(summary.customer_keys),
        scale,
        observation_end,
        calibration_end: None,
        unit_days,
    })
}

/// Reads and checks the input named by `input`: its summaries only when `need` allows
/// and the input is a CSV without a calibration split, else every transaction.
pub(crate) fn load(input: &InputArgs, need: Need) -> Result<Loaded> {
    let path = &input.file;
    let name = path.display().to_string();
    let (transactions, keys, cdnow) = match input.format.as_str() {
        "csv" => {
            let options = csv_options(input)?;
            if need == Need::Summaries && input.calibration_end.is_none() {
                return load_csv_summaries(input, &options);
            }
            let bytes = read_input(path)?;
            step("parsing");
            let log = csv_summary::read_transactions(&bytes, &options)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            (log.transactions, Keys::Strings(log.customer_keys), false)
        }
        "cdnow" => {
            let text = read_text(path)?;
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let transactions = if first.split_whitespace().count() == 5 {
                parse::cdnow_sample(&text)
            } else {
                parse::cdnow_master(&text)
            }
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            (transactions, Keys::Numbers, true)
        }
        "bgbb" => bail!("--format bgbb holds pattern rows, not transactions: use fit --model bgbb"),
        other => bail!("--format {other:?}: use csv, cdnow or bgbb"),
    };
    if transactions.is_empty() {
        bail!("{name}: no transactions (the file is empty or has only a header)");
    }
    let (scale, unit_days) = time_scale(input, cdnow)?;
    let last_day = transactions.iter().map(|t| t.day).max().unwrap_or(0);
    let observation_end = match &input.observation_end {
        Some(text) => parse_day("--observation-end", text)?,
        None => last_day,
    };
    let after = transactions
        .iter()
        .filter(|t| t.day > observation_end)
        .count();
    check_after_end(&name, after, transactions.len(), observation_end)?;
    let calibration_end = calibration_end(input, observation_end)?;
    Ok(Loaded {
        transactions,
        summaries: None,
        keys,
        scale,
        observation_end,
        calibration_end,
        unit_days,
    })
}

/// Summaries up to the fit end (the calibration end when given).
fn summarize(data: &mut Loaded) -> Result<Vec<CustomerSummary>> {
    let summaries = match data.summaries.take() {
        Some(summaries) => summaries,
        None => {
            step("summarising");
            summary::summarize(&data.transactions, &data.scale, data.fit_end())
                .map_err(|e| anyhow::anyhow!("summary: {e}"))?
        }
    };
    if summaries.is_empty() {
        bail!(
            "no customer bought on or before {}",
            format_day(data.fit_end())
        );
    }
    if summaries.len() == 1 {
        warn("the file holds one customer: models cannot be fitted");
    }
    if summaries.iter().all(|s| s.frequency == 0) {
        warn("nobody made a repeat purchase: models cannot be fitted");
    }
    Ok(summaries)
}

fn limited<T>(items: &[T], limit: Option<usize>) -> &[T] {
    &items[..limit.unwrap_or(usize::MAX).min(items.len())]
}

fn summary_cmd(out: &mut dyn Write, input: &InputArgs) -> Result<()> {
    let mut data = load(input, Need::Summaries)?;
    if let Some(calibration_end) = data.calibration_end {
        let rows = summary::calibration_and_holdout(
            &data.transactions,
            &data.scale,
            calibration_end,
            data.observation_end,
        )
        .map_err(|e| anyhow::anyhow!("summary: {e}"))?;
        let mut t = Table::new(
            "customers",
            &[
                "customer_id",
                "frequency_cal",
                "recency_cal",
                "T_cal",
                "monetary_value_cal",
                "frequency_holdout",
                "monetary_value_holdout",
                "duration_holdout",
            ],
        );
        for r in limited(&rows, input.limit) {
            let c = &r.calibration;
            t.push(vec![
                Cell::Text(data.key(c.customer)),
                Cell::Int(i64::from(c.frequency)),
                Cell::Float(c.recency, 4),
                Cell::Float(c.age, 4),
                Cell::Float(c.monetary_value, 4),
                Cell::Int(i64::from(r.frequency_holdout)),
                Cell::Float(r.monetary_value_holdout, 4),
                Cell::Float(r.duration_holdout, 4),
            ]);
        }
        let holdout: u64 = rows.iter().map(|r| u64::from(r.frequency_holdout)).sum();
        eprintln!(
            "{} customers, {holdout} holdout repeat transactions",
            rows.len()
        );
        return output::write(out, input.output, &[t]);
    }
    let summaries = summarize(&mut data)?;
    let mut t = Table::new(
        "customers",
        &["customer_id", "frequency", "recency", "T", "monetary_value"],
    );
    for s in limited(&summaries, input.limit) {
        t.push(vec![
            Cell::Text(data.key(s.customer)),
            Cell::Int(i64::from(s.frequency)),
            Cell::Float(s.recency, 4),
            Cell::Float(s.age, 4),
            Cell::Float(s.monetary_value, 4),
        ]);
    }
    output::write(out, input.output, &[t])
}

fn fit_options(penalizer: f64) -> Result<FitOptions> {
    if !(penalizer.is_finite() && penalizer >= 0.0) {
        bail!("--penalizer must be a non-negative number");
    }
    Ok(FitOptions {
        penalizer,
        ..FitOptions::default()
    })
}

fn warning_text(w: &FitWarning) -> String {
    match w {
        FitWarning::SingularHessian => {
            "the Hessian is not positive definite: no standard errors".to_owned()
        }
        FitWarning::GammaGammaQAtMostOne { q } => {
            format!("q = {q:.4} ≤ 1: mean spend and CLV are undefined")
        }
    }
}

/// The fit report as one name / value / std_error table.
fn report_table<P: ModelParams>(
    model: &str,
    customers: f64,
    report: &FitReport<P>,
) -> (Table, Vec<String>) {
    let mut t = Table::new("fit", &["name", "value", "std_error"]);
    let values = report.params.to_vec();
    let errors = report.standard_errors.map(|s| s.to_vec());
    for (i, name) in P::NAMES.iter().enumerate() {
        t.push(vec![
            Cell::Text((*name).to_owned()),
            Cell::Float(values[i], 6),
            errors
                .as_ref()
                .map_or(Cell::Empty, |e| Cell::Float(e[i], 6)),
        ]);
    }
    let mut facts = |name: &str, value: Cell| {
        t.push(vec![Cell::Text(name.to_owned()), value, Cell::Empty]);
    };
    facts("model", Cell::Text(model.to_owned()));
    facts("customers", Cell::Int(customers as i64));
    facts("log_likelihood", Cell::Float(report.log_likelihood, 4));
    facts("iterations", Cell::Int(i64::from(report.iterations)));
    facts(
        "gradient_norm",
        Cell::Text(format!("{:.3e}", report.gradient_norm)),
    );
    facts("converged", Cell::Bool(report.converged));
    let warnings: Vec<String> = report.warnings.iter().map(warning_text).collect();
    (t, warnings)
}

fn print_report<P: ModelParams>(
    out: &mut dyn Write,
    format: OutputFormat,
    model: &str,
    customers: f64,
    report: &FitReport<P>,
) -> Result<()> {
    let (t, warnings) = report_table(model, customers, report);
    for w in &warnings {
        warn(w);
    }
    if format == OutputFormat::Json {
        let value = report_json(model, customers, report, &warnings)?;
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    output::write(out, format, &[t])
}

/// The fit report as one JSON object: `parameters` and `standard_errors` keyed by parameter
/// name (`standard_errors` null without a usable Hessian), then the convergence facts and
/// the warnings. A non-finite number is refused rather than printed as null.
fn report_json<P: ModelParams>(
    model: &str,
    customers: f64,
    report: &FitReport<P>,
    warnings: &[String],
) -> Result<serde_json::Value> {
    let finite = |name: &str, v: f64| -> Result<serde_json::Value> {
        if !v.is_finite() {
            bail!("fit: {name} is not a finite number ({v}); please report this");
        }
        Ok(serde_json::Value::from(v))
    };
    let by_name = |values: &[f64]| -> Result<serde_json::Value> {
        P::NAMES
            .iter()
            .zip(values)
            .map(|(name, v)| Ok(((*name).to_owned(), finite(name, *v)?)))
            .collect::<Result<serde_json::Map<_, _>>>()
            .map(serde_json::Value::Object)
    };
    let standard_errors = match &report.standard_errors {
        Some(e) => by_name(&e.to_vec())?,
        None => serde_json::Value::Null,
    };
    Ok(serde_json::json!({
        "model": model,
        "customers": customers as i64,
        "parameters": by_name(&report.params.to_vec())?,
        "log_likelihood": finite("log_likelihood", report.log_likelihood)?,
        "iterations": report.iterations,
        "gradient_norm": finite("gradient_norm", report.gradient_norm)?,
        "converged": report.converged,
        "standard_errors": standard_errors,
        "warnings": warnings,
    }))
}

fn fit_error(model: &str, e: models::FitError) -> anyhow::Error {
    anyhow::anyhow!("{model} fit failed: {e}")
}

fn fit_cmd(out: &mut dyn Write, args: &FitArgs) -> Result<()> {
    let options = fit_options(args.penalizer)?;
    let format = args.input.output;
    if args.input.format == "bgbb" || args.model == "bgbb" {
        if args.model != "bgbb" {
            bail!("--format bgbb rows fit only --model bgbb");
        }
        let rows = load_bgbb_rows(&args.input.file)?;
        step("fitting BG/BB");
        let report = bgbb::fit(&rows, &options).map_err(|e| fit_error("BG/BB", e))?;
        let customers = rows.iter().map(|r| r.weight).sum();
        return print_report(out, format, "bgbb", customers, &report);
    }
    let mut data = load(&args.input, Need::Summaries)?;
    let summaries = summarize(&mut data)?;
    let customers = summaries.len() as f64;
    match args.model.as_str() {
        "bgnbd" | "mbgnbd" | "pnbd" => {
            let rows: Vec<CustomerRow> = summaries.iter().map(CustomerSummary::row).collect();
            step("fitting");
            match args.model.as_str() {
                "bgnbd" => {
                    let r = bgnbd::fit(&rows, &options).map_err(|e| fit_error("BG/NBD", e))?;
                    print_report(out, format, "bgnbd", customers, &r)
                }
                "mbgnbd" => {
                    let r = mbgnbd::fit(&rows, &options).map_err(|e| fit_error("MBG/NBD", e))?;
                    print_report(out, format, "mbgnbd", customers, &r)
                }
                _ => {
                    let r =
                        paretonbd::fit(&rows, &options).map_err(|e| fit_error("Pareto/NBD", e))?;
                    print_report(out, format, "pnbd", customers, &r)
                }
            }
        }
        "gg" => {
            let (rows, skipped) = spend_rows(&summaries);
            if skipped > 0 {
                warn(format_args!(
                    "{skipped} repeat buyers with a zero monetary value left out of Gamma-Gamma"
                ));
            }
            step("fitting Gamma-Gamma");
            let r = gamma_gamma::fit(&rows, &options).map_err(|e| fit_error("Gamma-Gamma", e))?;
            print_report(out, format, "gg", rows.len() as f64, &r)
        }
        other => bail!("--model {other:?}: use bgnbd, mbgnbd, pnbd, bgbb or gg"),
    }
}

/// Repeat buyers with a positive mean spend (Gamma-Gamma's data), and how many were left out.
fn spend_rows(summaries: &[CustomerSummary]) -> (Vec<SpendRow>, usize) {
    let repeaters = summaries.iter().filter(|s| s.frequency > 0);
    let rows: Vec<SpendRow> = repeaters
        .clone()
        .filter(|s| s.monetary_value > 0.0)
        .map(|s| SpendRow {
            frequency: s.frequency,
            monetary_value: s.monetary_value,
        })
        .collect();
    let skipped = repeaters.count() - rows.len();
    (rows, skipped)
}

/// Reads BG/BB pattern rows: a CSV with frequency, recency, periods and weights columns.
fn load_bgbb_rows(path: &Path) -> Result<Vec<BgBbRow>> {
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("opening {name}"))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{name}: reading the header"))?
        .clone();
    let column = |wanted: &[&str]| {
        headers
            .iter()
            .position(|h| wanted.iter().any(|w| h.eq_ignore_ascii_case(w)))
            .with_context(|| format!("{name}: line 1: the header has no {} column", wanted[0]))
    };
    let at = [
        column(&["frequency"])?,
        column(&["recency"])?,
        column(&["periods", "n"])?,
        column(&["weights", "weight", "count"])?,
    ];
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{name}: line {line}"))?;
        let mut values = [0.0; 4];
        for (k, &j) in at.iter().enumerate() {
            let text = record.get(j).unwrap_or("");
            values[k] = text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .with_context(|| {
                    format!(
                        "{name}: line {line}, column {}: expected a non-negative number, got {text:?}",
                        j + 1
                    )
                })?;
        }
        let whole = |v: f64, j: usize| -> Result<u32> {
            if v.fract() != 0.0 || v > f64::from(bgbb::PERIODS_MAX) {
                bail!(
                    "{name}: line {line}, column {}: expected a whole number up to {}",
                    j + 1,
                    bgbb::PERIODS_MAX
                );
            }
            Ok(v as u32)
        };
        rows.push(BgBbRow {
            frequency: whole(values[0], at[0])?,
            recency: whole(values[1], at[1])?,
            periods: whole(values[2], at[2])?,
            weight: values[3],
        });
    }
    if rows.is_empty() {
        bail!("{name}: no rows");
    }
    Ok(rows)
}

/// A fitted purchase model of the kind named by `--model`.
fn fit_purchase_model(
    model: &str,
    rows: &[CustomerRow],
    options: &FitOptions,
) -> Result<Box<dyn PurchaseModel>> {
    step("fitting");
    Ok(match model {
        "bgnbd" => Box::new(
            bgnbd::fit(rows, options)
                .map_err(|e| fit_error("BG/NBD", e))?
                .params,
        ),
        "mbgnbd" => Box::new(
            mbgnbd::fit(rows, options)
                .map_err(|e| fit_error("MBG/NBD", e))?
                .params,
        ),
        "pnbd" => Box::new(
            paretonbd::fit(rows, options)
                .map_err(|e| fit_error("Pareto/NBD", e))?
                .params,
        ),
        other => bail!("--model {other:?}: use bgnbd, mbgnbd or pnbd"),
    })
}

fn finite(what: &str, customer: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        bail!("{what} for customer {customer} is not finite; please report this")
    }
}

fn predict_cmd(out: &mut dyn Write, args: &PredictArgs) -> Result<()> {
    let mut data = load(&args.input, Need::Summaries)?;
    let summaries = summarize(&mut data)?;
    let rows: Vec<CustomerRow> = summaries.iter().map(CustomerSummary::row).collect();
    let model = fit_purchase_model(&args.model, &rows, &FitOptions::default())?;
    let holdout = match data.calibration_end {
        Some(c) => Some(
            summary::calibration_and_holdout(
                &data.transactions,
                &data.scale,
                c,
                data.observation_end,
            )
            .map_err(|e| anyhow::anyhow!("summary: {e}"))?,
        ),
        None => None,
    };
    let horizon = match (args.horizon_days, &holdout) {
        (Some(days), _) => days / data.unit_days,
        (None, Some(h)) => h.first().map_or(0.0, |r| r.duration_holdout),
        (None, None) => 90.0 / data.unit_days,
    };
    if !(horizon.is_finite() && horizon >= 0.0) {
        bail!("--horizon-days must be a non-negative number");
    }
    let mut columns = vec![
        "customer_id",
        "frequency",
        "recency",
        "T",
        "p_alive",
        "expected_purchases",
    ];
    if holdout.is_some() {
        columns.push("actual_purchases");
    }
    let mut t = Table::new("customers", &columns);
    let (mut predicted_total, mut actual_total) = (0.0, 0u64);
    for (i, s) in summaries.iter().enumerate() {
        let key = data.key(s.customer);
        let row = s.row();
        let alive = finite("P(alive)", &key, model.probability_alive(&row))?;
        let expected = finite(
            "expected purchases",
            &key,
            model.conditional_expected_purchases(&row, horizon),
        )?;
        predicted_total += expected;
        let mut cells = vec![
            Cell::Text(key),
            Cell::Int(i64::from(s.frequency)),
            Cell::Float(s.recency, 4),
            Cell::Float(s.age, 4),
            Cell::Float(alive, 6),
            Cell::Float(expected, 6),
        ];
        if let Some(h) = &holdout {
            // Both summaries list the same customers in ascending key order.
            let actual = h.get(i).map_or(0, |r| r.frequency_holdout);
            actual_total += u64::from(actual);
            cells.push(Cell::Int(i64::from(actual)));
        }
        if args.input.limit.is_none_or(|l| i < l) {
            t.push(cells);
        }
    }
    let mut totals = Table::new("totals", &["name", "value"]);
    totals.push(vec![
        Cell::Text("customers".into()),
        Cell::Int(summaries.len() as i64),
    ]);
    totals.push(vec![Cell::Text("horizon".into()), Cell::Float(horizon, 4)]);
    totals.push(vec![
        Cell::Text("expected_purchases".into()),
        Cell::Float(predicted_total, 2),
    ]);
    if holdout.is_some() {
        totals.push(vec![
            Cell::Text("actual_purchases".into()),
            Cell::Int(actual_total as i64),
        ]);
    }
    output::write(out, args.input.output, &[t, totals])
}

/// Month length in the data's time unit, as lifetimes uses it (4.345 weeks, 30 days).
fn month_length(unit_days: f64) -> f64 {
    if (unit_days - 7.0).abs() < 1e-9 {
        clv::MONTH_WEEKS_LIFETIMES
    } else if (unit_days - 1.0).abs() < 1e-9 {
        clv::MONTH_DAYS_LIFETIMES
    } else {
        MONTH_DAYS_AVERAGE / unit_days
    }
}

/// BG/NBD + Gamma-Gamma fits and every customer's CLV.
pub(crate) struct ClvRun {
    pub(crate) purchase: FitReport<bgnbd::BgNbdParams>,
    pub(crate) spend: FitReport<GammaGammaParams>,
    pub(crate) values: Vec<f64>,
}

pub(crate) fn clv_pipeline(
    summaries: &[CustomerSummary],
    unit_days: f64,
    months: u32,
    discount_rate: f64,
) -> Result<ClvRun> {
    let rows: Vec<CustomerRow> = summaries.iter().map(CustomerSummary::row).collect();
    step("fitting BG/NBD");
    let purchase = bgnbd::fit(&rows, &FitOptions::default()).map_err(|e| fit_error("BG/NBD", e))?;
    let (spend_rows, _) = spend_rows(summaries);
    step("fitting Gamma-Gamma");
    let spend = gamma_gamma::fit(&spend_rows, &FitOptions::default())
        .map_err(|e| fit_error("Gamma-Gamma", e))?;
    let options = ClvOptions::lifetimes_compatible(months, month_length(unit_days), discount_rate);
    step("computing CLV");
    let values =
        clv::customer_lifetime_values(&purchase.params, &spend.params, summaries, &options)
            .map_err(|e| anyhow::anyhow!("CLV: {e}"))?;
    Ok(ClvRun {
        purchase,
        spend,
        values,
    })
}

fn clv_cmd(out: &mut dyn Write, args: &ClvArgs) -> Result<()> {
    if !(args.discount_rate.is_finite() && args.discount_rate > -1.0) {
        bail!("--discount-rate must be a number above -1");
    }
    let mut data = load(&args.input, Need::Summaries)?;
    let summaries = summarize(&mut data)?;
    let (_, skipped) = spend_rows(&summaries);
    if skipped > 0 {
        warn(format_args!(
            "{skipped} repeat buyers with a zero monetary value left out of Gamma-Gamma"
        ));
    }
    let run = clv_pipeline(&summaries, data.unit_days, args.months, args.discount_rate)?;
    let mut t = Table::new(
        "customers",
        &[
            "customer_id",
            "frequency",
            "recency",
            "T",
            "monetary_value",
            "p_alive",
            "expected_spend",
            "clv",
        ],
    );
    for (i, s) in limited(&summaries, args.input.limit).iter().enumerate() {
        let key = data.key(s.customer);
        let alive = finite(
            "P(alive)",
            &key,
            run.purchase.params.probability_alive(&s.row()),
        )?;
        let spend = run
            .spend
            .params
            .conditional_expected_spend(s.frequency, s.monetary_value)
            .unwrap_or(0.0);
        t.push(vec![
            Cell::Text(key),
            Cell::Int(i64::from(s.frequency)),
            Cell::Float(s.recency, 4),
            Cell::Float(s.age, 4),
            Cell::Float(s.monetary_value, 4),
            Cell::Float(alive, 6),
            Cell::Float(spend, 4),
            Cell::Float(run.values[i], 4),
        ]);
    }
    let total: f64 = run.values.iter().sum();
    let mut totals = Table::new("totals", &["name", "value"]);
    for (name, value) in [
        ("customers", Cell::Int(summaries.len() as i64)),
        ("months", Cell::Int(i64::from(args.months))),
        ("discount_rate", Cell::Float(args.discount_rate, 4)),
        ("clv_total", Cell::Float(total, 2)),
        (
            "clv_mean",
            Cell::Float(total / summaries.len().max(1) as f64, 4),
        ),
    ] {
        totals.push(vec![Cell::Text(name.into()), value]);
    }
    output::write(out, args.input.output, &[t, totals])
}

fn rfm_cmd(out: &mut dyn Write, args: &RfmArgs) -> Result<()> {
    let mut data = load(&args.input, Need::Summaries)?;
    let summaries = summarize(&mut data)?;
    let inputs: Vec<analytics::rfm::RfmInput> = summaries.iter().map(Into::into).collect();
    let scores = analytics::rfm::score(&inputs);
    if args.segments {
        let mut counts: std::collections::BTreeMap<analytics::rfm::Segment, u64> =
            Default::default();
        for s in &scores {
            *counts.entry(s.segment).or_default() += 1;
        }
        let mut t = Table::new("segments", &["segment", "customers", "share"]);
        for (segment, n) in counts {
            t.push(vec![
                Cell::Text(segment.name().into()),
                Cell::Int(n as i64),
                Cell::Float(n as f64 / scores.len() as f64, 4),
            ]);
        }
        return output::write(out, args.input.output, &[t]);
    }
    let mut t = Table::new(
        "customers",
        &[
            "customer_id",
            "recency_score",
            "frequency_score",
            "monetary_score",
            "segment",
        ],
    );
    for s in limited(&scores, args.input.limit) {
        t.push(vec![
            Cell::Text(data.key(s.customer)),
            Cell::Int(i64::from(s.recency)),
            Cell::Int(i64::from(s.frequency)),
            Cell::Int(i64::from(s.monetary)),
            Cell::Text(s.segment.name().into()),
        ]);
    }
    output::write(out, args.input.output, &[t])
}

fn cohorts_cmd(out: &mut dyn Write, input: &InputArgs) -> Result<()> {
    let data = load(input, Need::Transactions)?;
    let observed: Vec<Transaction> = data
        .transactions
        .iter()
        .copied()
        .filter(|t| t.day <= data.observation_end)
        .collect();
    let matrix = analytics::cohort::retention_matrix(&observed);
    let width = matrix.iter().map(|c| c.rates.len()).max().unwrap_or(0);
    const MONTH_COLUMNS: [&str; 25] = [
        "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13",
        "m14", "m15", "m16", "m17", "m18", "m19", "m20", "m21", "m22", "m23", "m24",
    ];
    let shown = width.min(MONTH_COLUMNS.len());
    if width > shown {
        warn(format_args!(
            "showing the first {shown} months of {width}; use --observation-end to narrow"
        ));
    }
    let mut columns = vec!["cohort", "customers"];
    columns.extend(&MONTH_COLUMNS[..shown]);
    let mut t = Table::new("cohorts", &columns);
    for c in &matrix {
        let (year, month) = (
            c.first_month.div_euclid(12),
            c.first_month.rem_euclid(12) + 1,
        );
        let mut cells = vec![
            Cell::Text(format!("{year:04}-{month:02}")),
            Cell::Int(i64::from(c.customers)),
        ];
        for k in 0..shown {
            cells.push(c.rates.get(k).map_or(Cell::Empty, |r| Cell::Float(*r, 4)));
        }
        t.push(cells);
    }
    output::write(out, input.output, &[t])
}

fn kpis_cmd(out: &mut dyn Write, args: &KpiArgs) -> Result<()> {
    let data = load(&args.input, Need::Transactions)?;
    let end_day = match &args.to {
        Some(t) => parse_day("--to", t)?,
        None => data.observation_end,
    };
    let start_day = match &args.from {
        // The period is (start, end]: --from names its first day.
        Some(f) => parse_day("--from", f)? - 1,
        None => end_day - 90,
    };
    if start_day >= end_day {
        bail!("--from must be on or before --to");
    }
    let k = analytics::kpi::period_kpis(
        &data.transactions,
        analytics::kpi::Period { start_day, end_day },
    );
    let mut t = Table::new("kpis", &["name", "value"]);
    let ratio = |v: Option<f64>| v.map_or(Cell::Empty, |v| Cell::Float(v, 4));
    for (name, value) in [
        ("from", Cell::Text(format_day(start_day + 1))),
        ("to", Cell::Text(format_day(end_day))),
        (
            "customers_at_start",
            Cell::Int(i64::from(k.customers_at_start)),
        ),
        ("customers_at_end", Cell::Int(i64::from(k.customers_at_end))),
        ("new_customers", Cell::Int(i64::from(k.new_customers))),
        (
            "retained_customers",
            Cell::Int(i64::from(k.retained_customers)),
        ),
        (
            "reactivated_customers",
            Cell::Int(i64::from(k.reactivated_customers)),
        ),
        ("orders", Cell::Int(i64::from(k.orders))),
        ("revenue", Cell::Float(k.revenue, 2)),
        ("retention_rate", ratio(k.retention_rate)),
        ("churn_rate", ratio(k.churn_rate)),
        ("repeat_purchase_rate", ratio(k.repeat_purchase_rate)),
        ("purchase_frequency", ratio(k.purchase_frequency)),
        ("average_order_value", ratio(k.average_order_value)),
        ("revenue_per_customer", ratio(k.revenue_per_customer)),
    ] {
        t.push(vec![Cell::Text(name.into()), value]);
    }
    // CLV over the data up to the period end; a failed fit leaves the CLV rows out.
    match summary::summarize(&data.transactions, &data.scale, end_day)
        .map_err(|e| anyhow::anyhow!("summary: {e}"))
        .and_then(|s| clv_pipeline(&s, data.unit_days, 12, 0.01))
    {
        Ok(run) => {
            let mean = run.values.iter().sum::<f64>() / run.values.len().max(1) as f64;
            t.push(vec![
                Cell::Text("clv_12_months_mean".into()),
                Cell::Float(mean, 4),
            ]);
            if let Some(cac) = args.cac {
                if !(cac.is_finite() && cac > 0.0) {
                    bail!("--cac must be a positive number");
                }
                t.push(vec![
                    Cell::Text("ltv_to_cac".into()),
                    Cell::Float(mean / cac, 4),
                ]);
            }
        }
        Err(e) => warn(format_args!("no CLV figures: {e:#}")),
    }
    match (args.carts, args.checkouts) {
        (Some(carts), Some(checkouts)) if carts > 0 => {
            if checkouts > carts {
                warn("more checkouts than carts: cart abandonment is 0");
            }
            let abandonment = 1.0 - (checkouts.min(carts) as f64 / carts as f64);
            t.push(vec![
                Cell::Text("cart_abandonment_rate".into()),
                Cell::Float(abandonment, 4),
            ]);
        }
        (Some(0), Some(_)) => warn("no carts: cart abandonment is undefined"),
        (None, None) => {}
        _ => bail!("cart abandonment needs both --carts and --checkouts"),
    }
    output::write(out, args.input.output, &[t])
}

fn refit_cmd(out: &mut dyn Write, config: &Config, args: &RefitArgs) -> Result<()> {
    let app = crate::cli::build_app(config)?;
    step("refitting on the store's orders");
    let fit = app
        .refit_analytics(&app::Principal::cli())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut t = Table::new("fit", &["name", "value"]);
    for (name, value) in [
        ("version", Cell::Int(fit.version)),
        ("customers", Cell::Int(fit.customers)),
        ("orders", Cell::Int(fit.orders)),
        ("data_from", Cell::Text(fit.data_from.clone())),
        ("data_to", Cell::Text(fit.data_to.clone())),
        ("bgnbd", Cell::Text(fit.purchase_params.clone())),
        (
            "bgnbd_log_likelihood",
            Cell::Text(fit.purchase_log_likelihood.clone()),
        ),
        ("gamma_gamma", Cell::Text(fit.spend_params.clone())),
        ("converged", Cell::Bool(fit.converged)),
        ("predictions", Cell::Int(fit.predictions)),
    ] {
        t.push(vec![Cell::Text(name.into()), value]);
    }
    for w in &fit.warnings {
        warn(w);
    }
    output::write(out, args.output, &[t])
}
