//! `patron bench redeem`: redemptions (reserve a hold → commit it, two HTTP requests) by
//! concurrent redeemers, one keep-alive connection each, against the bare authenticated
//! one-insert endpoint of `bench http` in the same server and run, on SQLite.
//!
//! Two phases, each followed by a check of the totals:
//! - **one account**: every redeemer asks for 100 points once from one account holding 1,000;
//!   exactly 10 must succeed and the balance end at 0.
//! - **spread**: the accounts (seeded through the real intake, batched) each hold enough for the
//!   redemptions that land on them; every redemption must succeed and the sum of balances drop by
//!   exactly what was redeemed. No balance may be negative, and the full ledger check must hold
//!   (run up to 10,000 accounts: its per-account subqueries grow with accounts × transfers).
//!
//! The reference phase sends as many bare inserts, by as many concurrent connections, as the
//! spread phase sends redemptions. A redemption is two requests, so a latency ratio near 2 means
//! the holds cost no more than a bare insert each.

use crate::bench::{BenchDir, Client};
use anyhow::{Context, Result, bail, ensure};
use app::Principal;
use app::intake::{CustomerRef, Intake, LineInput, OrderInput};
use app::sys::Stopwatch;
use domain::access::Role;
use std::sync::Arc;

/// Points each redemption asks for.
const POINTS: i64 = 100;
/// Orders placed per `place_orders` call while seeding.
const SEED_BATCH: usize = 500;

/// What one phase measured: per-attempt latency (µs), successes, refusals, wall time.
#[derive(Default)]
struct Measured {
    latencies_us: Vec<u64>,
    ok: u64,
    refused: u64,
    seconds: f64,
}

impl Measured {
    fn percentile_ms(&mut self, p: f64) -> f64 {
        self.latencies_us.sort_unstable();
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds
    }
}

pub fn run(
    config: &crate::config::Config,
    redeemers: usize,
    accounts: u64,
    rounds: usize,
) -> Result<()> {
    if redeemers == 0 || accounts == 0 || rounds == 0 {
        bail!("--redeemers, --accounts and --rounds must be at least 1");
    }
    let dir =
        BenchDir(std::env::temp_dir().join(format!("patron-bench-redeem-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let mut bench_config = config.clone();
    bench_config.database_url = format!("sqlite://{}", dir.0.join("bench.db").display());
    let app = crate::cli::build_app(&bench_config)?;
    app.bench_scratch_create()?;
    let key = app.create_key(&Principal::cli(), Role::Integration, "bench")?;
    let earn = bench_config.settings().earn;
    let currency = bench_config.settings().currency.code().to_owned();

    // Seeding through the real intake: one order per account, priced to earn what it needs.
    let redemptions = redeemers as u64 * rounds as u64;
    let per_account = redemptions.div_ceil(accounts) as i64 * POINTS;
    let watch = Stopwatch::start();
    let one = seed(&app, &currency, price_for(earn, 10 * POINTS)?, "ONE", 1)?[0];
    let spread = seed(
        &app,
        &currency,
        price_for(earn, per_account)?,
        "S",
        accounts,
    )?;
    let seeded = watch.elapsed().as_secs_f64();
    let spread_total_before = sum_balances(&app, &spread)?;
    ensure!(
        spread_total_before == per_account * accounts as i64,
        "seeding gave {spread_total_before} points, expected {}",
        per_account * accounts as i64
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let app_for_server = app.clone();
    let spread_ids = Arc::new(spread.clone());
    let (mut single, mut spread_m, mut bare) = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(
            listener,
            app_for_server,
            api::ApiOptions {
                bench_scratch: true,
            },
            async {
                let _ = stop_rx.await;
            },
        ));
        let clients = connect_all(addr, redeemers).await?;
        // Phase 1: everyone at once on one account.
        let (clients, single) =
            drive(clients, &key, 1, Arc::new(move |_, _| Target::Redeem(one))).await?;
        // Phase 2: spread; redeemer i in round r takes account (r × redeemers + i) mod N.
        let spread_ids = spread_ids.clone();
        let (clients, spread_m) = drive(
            clients,
            &key,
            rounds,
            Arc::new(move |i, r| {
                Target::Redeem(spread_ids[(r * redeemers + i) % spread_ids.len()])
            }),
        )
        .await?;
        // Reference: as many bare inserts, by as many connections.
        let (_clients, bare) = drive(clients, &key, rounds, Arc::new(Target::Bare)).await?;
        let _ = stop_tx.send(());
        server.await??;
        anyhow::Ok((single, spread_m, bare))
    })?;

    // Totals after each phase.
    let one_balance = app.points_balance(one)?;
    let expected_ok = 10.min(redeemers as u64);
    ensure!(
        (single.ok, single.refused, one_balance)
            == (
                expected_ok,
                redeemers as u64 - expected_ok,
                10 * POINTS - expected_ok as i64 * POINTS
            ),
        "one account: {} succeeded, {} refused, balance {one_balance} (expected {expected_ok} to succeed)",
        single.ok,
        single.refused,
    );
    let spread_total_after = sum_balances(&app, &spread)?;
    ensure!(
        spread_m.ok == redemptions && spread_m.refused == 0,
        "spread: {} of {redemptions} redemptions succeeded",
        spread_m.ok
    );
    ensure!(
        spread_total_after == spread_total_before - redemptions as i64 * POINTS,
        "spread: balances sum to {spread_total_after}, expected {}",
        spread_total_before - redemptions as i64 * POINTS
    );
    let (negative, healthy) = app.store.read(|tx| -> Result<(i64, bool)> {
        let negative = tx
            .query_one(
                "SELECT COUNT(*) FROM accounts WHERE customer_id IS NOT NULL AND balance < 0",
                &[],
            )?
            .int(0)?;
        Ok((negative, store::ledger::check(tx)?.is_healthy()))
    })?;
    ensure!(negative == 0, "{negative} accounts went negative");
    ensure!(healthy, "the ledger check failed");

    let (b50, b99, b_rate) = (
        bare.percentile_ms(0.5),
        bare.percentile_ms(0.99),
        bare.rate(),
    );
    println!(
        "bench redeem: {redeemers} concurrent redeemers (hold → commit over HTTP), SQLite; seeded {} accounts through intake in {seeded:.1} s",
        accounts + 1
    );
    for (name, m) in [
        ("one account (1,000 points)", &mut single),
        ("spread over accounts      ", &mut spread_m),
    ] {
        let (p50, p99, rate) = (m.percentile_ms(0.5), m.percentile_ms(0.99), m.rate());
        println!(
            "  {name}: {:>6} attempts, {:>6} ok, {:>4} refused  {rate:>8.0} redemptions/s  p50 {p50:.2} ms  p99 {p99:.2} ms",
            m.latencies_us.len(),
            m.ok,
            m.refused
        );
        println!(
            "      vs bare insert: throughput ratio {:.3}, p50 ratio {:.2}, p99 ratio {:.2}",
            rate / b_rate,
            p50 / b50,
            p99 / b99
        );
    }
    println!(
        "  bare authenticated insert : {:>6} requests                  {b_rate:>8.0} req/s          p50 {b50:.2} ms  p99 {b99:.2} ms",
        bare.latencies_us.len()
    );
    println!(
        "  totals: one account {} ok / balance {one_balance}; spread {} ok, Σ balance {spread_total_before} → {spread_total_after}; no negative balance; ledger check healthy",
        single.ok, spread_m.ok,
    );
    Ok(())
}

/// The smallest order amount (minor units) that earns exactly `points` under `earn`.
fn price_for(earn: domain::EarnRule, points: i64) -> Result<i64> {
    let (mut lo, mut hi) = (0i64, 1i64 << 50);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if earn.earn(mid) >= points {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    ensure!(
        earn.earn(lo) == points,
        "no order amount earns exactly {points} points"
    );
    Ok(lo)
}

/// Places one order per new customer (`<prefix><n>`) through the batched intake; their ids.
fn seed(app: &app::App, currency: &str, price: i64, prefix: &str, n: u64) -> Result<Vec<i64>> {
    let who = Principal::cli();
    let mut ids = Vec::with_capacity(n as usize);
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..n {
        batch.push(OrderInput {
            source: "bench".to_owned(),
            external_id: format!("R{prefix}{i:08}"),
            customer: CustomerRef::Described(app::customers::CustomerInput {
                identities: vec![(
                    domain::IdentityKind::ShopCustomerId,
                    format!("{prefix}{i:08}"),
                )],
                ..Default::default()
            }),
            occurred_at: None,
            currency: currency.to_owned(),
            lines: vec![LineInput {
                sku: "TEA".to_owned(),
                category: None,
                quantity: 1,
                unit_price_minor: price,
            }],
        });
        if batch.len() == SEED_BATCH || i + 1 == n {
            for outcome in app.place_orders(&who, &batch)? {
                match outcome {
                    Intake::Accepted(o) => ids.push(o.customer_id),
                    Intake::Duplicate(_) => bail!("seed order replayed"),
                    Intake::Rejected(e) => bail!("seed order rejected: {e}"),
                }
            }
            batch.clear();
        }
    }
    Ok(ids)
}

/// Σ balance of the customers' accounts, one statement per 512 customers.
fn sum_balances(app: &app::App, ids: &[i64]) -> Result<i64> {
    app.store.read(|tx| -> Result<i64> {
        let mut total = 0;
        for chunk in ids.chunks(512) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM accounts WHERE customer_id IN ({list})"
            );
            let params: Vec<store::sql::Arg<'_>> =
                chunk.iter().map(|&c| store::sql::Arg::Int(c)).collect();
            total += tx.query_one(&sql, &params)?.int(0)?;
        }
        Ok(total)
    })
}

#[derive(Clone, Copy)]
enum Target {
    /// A redemption from this customer.
    Redeem(i64),
    /// One bare insert (redeemer, round).
    Bare(usize, usize),
}

type Plan = Arc<dyn Fn(usize, usize) -> Target + Send + Sync>;

async fn connect_all(addr: std::net::SocketAddr, n: usize) -> Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(Client::connect(addr).await?);
    }
    Ok(clients)
}

/// Every client runs `rounds` attempts at once with the others, released together by a barrier.
async fn drive(
    clients: Vec<Client>,
    key: &str,
    rounds: usize,
    plan: Plan,
) -> Result<(Vec<Client>, Measured)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(clients.len() + 1));
    let mut tasks = Vec::with_capacity(clients.len());
    for (i, mut conn) in clients.into_iter().enumerate() {
        let (key, plan, barrier) = (key.to_owned(), plan.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut m = Measured::default();
            barrier.wait().await;
            for r in 0..rounds {
                let sent = Stopwatch::start();
                let ok = attempt(&mut conn, &key, plan(i, r)).await?;
                m.latencies_us.push(sent.elapsed().as_micros() as u64);
                if ok {
                    m.ok += 1;
                } else {
                    m.refused += 1;
                }
            }
            anyhow::Ok((conn, m))
        }));
    }
    barrier.wait().await;
    let watch = Stopwatch::start();
    let mut clients = Vec::with_capacity(tasks.len());
    let mut total = Measured::default();
    for t in tasks {
        let (conn, m) = t.await??;
        clients.push(conn);
        total.latencies_us.extend(m.latencies_us);
        total.ok += m.ok;
        total.refused += m.refused;
    }
    total.seconds = watch.elapsed().as_secs_f64();
    Ok((clients, total))
}

/// One redemption (hold, then commit) or one bare insert: true if it succeeded, false if the
/// hold was refused for want of points; anything else is an error.
async fn attempt(conn: &mut Client, key: &str, target: Target) -> Result<bool> {
    match target {
        Target::Bare(i, r) => {
            let body = format!(
                r#"{{"customer":"C{}","day":{},"amount_minor":136000}}"#,
                i % 5_000,
                r % 28
            );
            let status = conn.post("/api/v1/bench/scratch", key, &body).await?;
            ensure!(
                (200..300).contains(&status),
                "bare insert answered {status}"
            );
            Ok(true)
        }
        Target::Redeem(customer) => {
            let holds = format!("/api/v1/customers/{customer}/points/holds");
            let (status, body) = conn
                .post_body(&holds, key, &format!(r#"{{"points":{POINTS}}}"#))
                .await?;
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if status == 422 && json["code"] == "insufficient_points" {
                return Ok(false);
            }
            ensure!(status == 201, "hold answered {status}: {json}");
            let id = json["hold_id"].as_i64().context("hold_id")?;
            let (status, body) = conn
                .post_body(&format!("{holds}/{id}/commit"), key, "{}")
                .await?;
            ensure!(
                status == 200,
                "commit answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
            Ok(true)
        }
    }
}
