//! `patron demo`: a temporary SQLite store filled with a generated Taiwanese tea shop —
//! zh-TW names, NT$ prices, customers whose purchases follow a BG/NBD process with
//! Gamma-Gamma spend over the past two years, and a complaint desk of the past two weeks
//! ([`crate::demo_desk`]) — under the default programme and the default non-purchase rules
//! (sign-up, birthday, referral), then served, with a key and example commands.

use crate::config::Config;
use anyhow::Result;
use app::customers::CustomerInput;
use app::intake::{CustomerRef, LineInput, OrderInput};
use app::workload::{CATALOGUE, Purchase, Rng, ShopProcess, simulate_customer, taiwanese_name};
use app::{App, Principal};
use domain::IdentityKind;
use domain::access::Role;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Fill the store and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Customers to generate.
    #[arg(long, default_value_t = 3_000)]
    pub customers: u64,
    /// Seed of the generator (same seed, same shop).
    #[arg(long, default_value_t = 1997)]
    pub seed: u64,
    /// Where to put the demo database (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

/// Days of history generated before today.
const HISTORY_DAYS: i64 = 730;
/// Tickets on the demo's desk (over the past two weeks).
const DESK_TICKETS: usize = 300;

/// What the demo generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoShop {
    pub customers: u64,
    pub orders: u64,
    pub points: i64,
}

/// Generates the shop into `app`'s store through the same use cases as the API.
pub fn fill(app: &App, customers: u64, seed: u64) -> Result<DemoShop> {
    let mut rng = Rng::seeded(seed);
    let process = ShopProcess::default();
    let who = Principal {
        actor: "cli:demo".to_owned(),
        ..Principal::cli()
    };
    let now = app.now();
    let start = now - jiff::SignedDuration::from_hours(24 * HISTORY_DAYS);
    let mut batch = Vec::new();
    let mut purchases: Vec<Purchase> = Vec::new();
    let mut shop = DemoShop {
        customers,
        orders: 0,
        points: 0,
    };
    for c in 0..customers {
        purchases.clear();
        // Customers join over the first year of the history.
        let first_day = rng.below(365) as i64;
        simulate_customer(
            &mut rng,
            &process,
            c,
            first_day,
            HISTORY_DAYS,
            &mut purchases,
        );
        let name = taiwanese_name(&mut rng);
        let profile = CustomerInput {
            identities: vec![
                (IdentityKind::ShopCustomerId, format!("TW{:06}", c + 1)),
                (
                    IdentityKind::Email,
                    format!("member{:06}@example.tw", c + 1),
                ),
                (
                    IdentityKind::Phone,
                    format!("09{:08}", rng.below(100_000_000)),
                ),
            ],
            name: Some(name),
            birthday: Some(format!(
                "{}-{:02}-{:02}",
                1960 + rng.below(45),
                1 + rng.below(12),
                1 + rng.below(28)
            )),
            locale: Some("zh-TW".to_owned()),
            time_zone: Some("Asia/Taipei".to_owned()),
        };
        for (n, p) in purchases.iter().enumerate() {
            let (sku, category, price) = *rng.pick(CATALOGUE);
            // Spend from the Gamma-Gamma draw, as whole units of the picked product (at least one).
            let quantity = (p.amount_minor / (price * 100)).clamp(1, 12);
            let at = start
                + jiff::SignedDuration::from_hours(24 * p.day)
                + jiff::SignedDuration::from_mins(rng.below(600) as i64 + 600);
            batch.push(OrderInput {
                source: "demo".to_owned(),
                external_id: format!("TW{:06}-{n:03}", c + 1),
                customer: CustomerRef::Described(profile.clone()),
                occurred_at: Some(at.min(now)),
                currency: "TWD".to_owned(),
                lines: vec![LineInput {
                    sku: sku.to_owned(),
                    category: Some(category.to_owned()),
                    quantity,
                    unit_price_minor: price * 100,
                }],
            });
        }
        if batch.len() >= 1_000 || c + 1 == customers {
            for r in app.place_orders(&who, &batch)? {
                let (o, _) = r.into_result()?;
                shop.orders += 1;
                shop.points += o.points_earned;
            }
            batch.clear();
        }
    }
    Ok(shop)
}

pub fn run(config: &Config, args: &DemoArgs) -> Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("patron-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("demo.db");
    let _ = std::fs::remove_file(&path);
    let mut demo_config = config.clone();
    demo_config.database_url = format!("sqlite://{}", path.display());
    demo_config.listen = args
        .listen
        .parse()
        .map_err(|_| anyhow::anyhow!("--listen: {:?} is not HOST:PORT", args.listen))?;
    let app = crate::cli::build_app(&demo_config)?;
    // The default Taiwanese programme: 1 point per NT$100, 7 days pending, expiry at the end
    // of the following year (Asia/Taipei), three tiers.
    app.install_default_programme(&Principal::cli())?;
    eprintln!("Generating a shop of {} customers …", args.customers);
    let shop = fill(&app, args.customers, args.seed)?;
    println!(
        "Demo store: {} ({} customers, {} orders, {} points earned)",
        path.display(),
        shop.customers,
        shop.orders,
        shop.points
    );
    // The default non-purchase rules, after the history (its customers joined long ago): new
    // customers get sign-up points, birthdays are celebrated from today, referrals reward.
    let bonus = app.install_default_bonus_rules(&Principal::cli())?;
    println!(
        "Bonus rules v{}: sign-up {} points, birthday {} points (29 Feb on {}), referral {}/{} points",
        bonus.version,
        app::bonus::DEFAULT_SIGN_UP_POINTS,
        app::bonus::DEFAULT_BIRTHDAY_POINTS,
        bonus.rules.leap_day_fallback,
        bonus.rules.referral.referrer_points,
        bonus.rules.referral.referee_points
    );
    // The desk's history is a thousand use cases; their per-ticket log lines would bury the
    // demo's own output, so they are not logged.
    let desk =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            crate::demo_desk::fill(&app, args.customers, DESK_TICKETS, args.seed)
        })?;
    println!(
        "Demo desk: {} tickets ({} solved, {} rated, {} near their resolution deadline)",
        desk.tickets, desk.solved, desk.rated, desk.near_breach
    );
    if args.no_serve {
        return Ok(());
    }
    let key = app.create_key(&Principal::cli(), Role::Admin, "demo")?;
    crate::cli::serve(app, &demo_config, api::ApiOptions::default(), |addr| {
        let base = format!("http://{addr}");
        println!("Patron demo is listening on {base}");
        println!("Admin API key (demo only): {key}");
        println!();
        println!("Try:");
        println!("  curl -s -H 'Authorization: Bearer {key}' {base}/api/v1/customers/1");
        println!(
            "  curl -s -H 'Authorization: Bearer {key}' '{base}/api/v1/customers/1/points/statement?limit=5'"
        );
        println!(
            "  curl -s -X POST -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \
             -d '{{\"source\":\"demo\",\"external_id\":\"curl-1\",\"customer\":{{\"identities\":{{\"shop_customer_id\":\"TW000001\"}}}},\
             \"lines\":[{{\"sku\":\"TEA-OOLONG-150G\",\"quantity\":2,\"unit_price_minor\":68000}}]}}' {base}/api/v1/orders"
        );
        println!("  curl -s -H 'Authorization: Bearer {key}' {base}/api/v1/desk/kpis");
        println!();
        println!("Press Ctrl-C to stop.");
    })
}
