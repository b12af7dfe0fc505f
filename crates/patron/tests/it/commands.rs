//! The real `patron` binary: import (CDNOW, re-runs, a crash mid-import, bad input),
//! demo, configuration errors, and logs free of personal data.

use crate::http::{get, patron, post, read_until};
use std::io::{BufReader, Write};
use std::process::Stdio;
use test_support::{Backend, TestDatabase};

const CDNOW_MASTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/cdnow/CDNOW_master.txt"
);

fn counts(db: &TestDatabase) -> (i64, i64, i64) {
    db.open()
        .read(|tx| {
            let customers = store::customers::count(tx)?;
            let orders = store::events::count_by_kind(tx, domain::EventKind::OrderPlaced)?;
            let points = tx.query_one("SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM accounts WHERE code IS NULL", &[])?.int(0)?;
            anyhow::Ok((customers, orders, points))
        })
        .unwrap()
}

fn import(db: &TestDatabase, args: &[&str]) -> std::process::Output {
    patron()
        .arg("--database-url")
        .arg(db.url_for_child())
        .arg("import")
        .args(args)
        .output()
        .unwrap()
}

fn cdnow_loads_once(backend: Backend) {
    let Some(db) = TestDatabase::new(backend) else {
        return;
    };
    db.open();
    let out = import(
        &db,
        &[CDNOW_MASTER, "--format", "cdnow", "--currency", "TWD"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("69659 rows read: 69659 stored, 0 already present, 0 rejected"),
        "{stdout}"
    );
    let first = counts(&db);
    assert_eq!((first.0, first.1), (23_570, 69_659));
    if backend == Backend::Postgres {
        // The import refreshed the planner's statistics as the tables grew (never analysed,
        // a table's row estimate is -1).
        let estimated = db
            .open()
            .read(|tx| {
                tx.query_one(
                    "SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = to_regclass('events')",
                    &[],
                )?
                .int(0)
            })
            .unwrap();
        assert!(estimated >= 40_000, "events estimated at {estimated} rows");
    }
    let again = import(
        &db,
        &[CDNOW_MASTER, "--format", "cdnow", "--currency", "TWD"],
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 stored, 69659 already present"));
    assert_eq!(counts(&db), first, "a second run adds nothing");
}

#[test]
fn cdnow_master_loads_once_sqlite() {
    cdnow_loads_once(Backend::Sqlite);
}

#[test]
fn cdnow_master_loads_once_postgres() {
    cdnow_loads_once(Backend::Postgres);
}

fn write_orders(path: &std::path::Path, rows: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "order_id,customer_id,occurred_at,sku,quantity,unit_price_minor"
    )
    .unwrap();
    for i in 0..rows {
        writeln!(
            f,
            "K{i},C{},2026-01-{:02},TEA,{},{}",
            i % 997,
            1 + i % 28,
            1 + i % 3,
            10_000 + 100 * (i % 50)
        )
        .unwrap();
    }
}

fn killed_import_resumes_to_the_same_totals(backend: Backend) {
    let (Some(killed), Some(clean)) = (TestDatabase::new(backend), TestDatabase::new(backend))
    else {
        return;
    };
    killed.open();
    clean.open();
    let dir = std::env::temp_dir().join(format!("patron-kill-{}-{backend:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("orders.csv");
    write_orders(&csv, 30_000);
    let csv = csv.to_str().unwrap();

    // Kill the import with SIGKILL after its third committed batch.
    let mut child = patron()
        .arg("--database-url")
        .arg(killed.url_for_child())
        .args(["import", csv, "--batch-rows", "500", "--report-batches"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        read_until(&mut out, "committed");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = counts(&killed);
    assert!(partial.1 >= 1_500 && partial.1 < 30_000, "{partial:?}");

    let resumed = import(&killed, &[csv]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let uninterrupted = import(&clean, &[csv]);
    assert!(uninterrupted.status.success());
    assert_eq!(counts(&killed), counts(&clean));
    assert_eq!(counts(&clean).1, 30_000);
    for db in [&killed, &clean] {
        assert!(db.open().read(store::ledger::check).unwrap().is_healthy());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn killed_import_resumes_sqlite() {
    killed_import_resumes_to_the_same_totals(Backend::Sqlite);
}

#[test]
fn killed_import_resumes_postgres() {
    killed_import_resumes_to_the_same_totals(Backend::Postgres);
}

#[test]
fn bad_rows_are_reported_and_good_rows_go_in() {
    let db = TestDatabase::new(Backend::Sqlite).unwrap();
    let dir = db.dir.clone().unwrap();
    let csv = dir.join("mixed.csv");
    let mut bytes = b"order_id,customer_id,sku,quantity,unit_price_minor,currency\n".to_vec();
    bytes.extend_from_slice(b"A1,c1,TEA,1,10000,TWD\n");
    bytes.extend_from_slice(b"A2,c1,TEA,1,-5,TWD\n");
    bytes.extend_from_slice(b"A3,c1,TEA,1.5,100,TWD\n");
    bytes.extend_from_slice(b"A4,c1,TEA,1,100,XYZ\n");
    bytes.extend_from_slice(b"A5,c\xff,TEA,1,100,TWD\n");
    bytes.extend_from_slice(b"A6,c2,TEA,2,20000,TWD\n");
    std::fs::write(&csv, bytes).unwrap();
    let out = import(&db, &[csv.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "rejected rows give exit status 2"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // In file order, whether the parser (rows 4 and 6) or intake's validation (rows 3 and 5)
    // refused the row.
    let mut after = None;
    for expected in [
        "row 3: column unit_price_minor:",
        "row 4: column quantity: \"1.5\" is not a whole number",
        "row 5: column currency:",
        "row 6: column customer_id: not valid UTF-8",
    ] {
        let at = stderr.find(expected);
        assert!(at.is_some(), "missing {expected:?} in:\n{stderr}");
        assert!(at > after, "{expected:?} out of order in:\n{stderr}");
        after = at;
    }
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("6 rows read: 2 stored, 0 already present, 4 rejected")
    );
    assert_eq!(counts(&db), (2, 2, 1 + 4));

    let missing = dir.join("missing.csv");
    std::fs::write(&missing, "order_id,customer_id,quantity\nA,c,1\n").unwrap();
    let out = import(&db, &[missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing.csv") && stderr.contains("missing column `sku`"),
        "{stderr}"
    );
    assert_eq!(counts(&db), (2, 2, 5), "a refused file changes nothing");
}

#[test]
fn configuration_errors_name_the_key() {
    let out = patron()
        .env("PATRON_LOYALTY_EARN_POINTS", "lots")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loyalty.earn_points") && stderr.contains("PATRON_LOYALTY_EARN_POINTS"),
        "{stderr}"
    );
    let out = patron()
        .arg("--database-url")
        .arg("mysql://x")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("database_url"));
}

/// Starts `patron <args>` and waits for the line naming its URL; returns the child, the
/// address, and the lines printed after it up to one containing `until` (when given).
fn spawn_listening(
    args: &[&str],
    envs: &[(&str, &str)],
    needle: &str,
    until: Option<&str>,
) -> (std::process::Child, String, Vec<String>) {
    let mut cmd = patron();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let line = read_until(&mut out, needle);
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    // Keep what follows (the demo prints its key and examples after the URL).
    if let Some(until) = until {
        let mut more = String::new();
        while std::io::BufRead::read_line(&mut out, &mut more).unwrap_or(0) > 0 {
            if more.contains(until) {
                break;
            }
            lines.push(more.trim_end().to_owned());
            more.clear();
        }
    }
    (child, addr, lines)
}

#[test]
fn demo_serves_and_its_examples_answer() {
    let dir = std::env::temp_dir().join(format!("patron-demo-test-{}", std::process::id()));
    let (mut child, addr, lines) = spawn_listening(
        &[
            "demo",
            "--customers",
            "150",
            "--listen",
            "127.0.0.1:0",
            "--dir",
            dir.to_str().unwrap(),
        ],
        &[],
        "listening on",
        Some("Ctrl-C"),
    );
    let key = lines
        .iter()
        .find_map(|l| l.strip_prefix("Admin API key (demo only): "))
        .unwrap()
        .to_owned();
    let examples: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("curl"))
        .collect();
    assert_eq!(examples.len(), 4, "{lines:?}");
    // Replay each printed example with the test client.
    let customer = get(&addr, "/api/v1/customers/1", &key);
    assert_eq!(customer.status, 200, "{}", customer.body);
    assert!(customer.json()["points_balance"].as_i64().unwrap() >= 0);
    let statement = get(&addr, "/api/v1/customers/1/points/statement?limit=5", &key);
    assert_eq!(statement.status, 200, "{}", statement.body);
    let body = examples[2]
        .split("-d '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let placed = post(&addr, "/api/v1/orders", &key, body);
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert!(examples[0].contains(&format!("http://{addr}/api/v1/customers/1")));
    // The desk: tickets across channels and states, some solved and rated, some near breach.
    assert!(examples[3].ends_with(&format!("http://{addr}/api/v1/desk/kpis")));
    let kpis = get(&addr, "/api/v1/desk/kpis", &key);
    assert_eq!(kpis.status, 200, "{}", kpis.body);
    let k = kpis.json();
    assert!(k["tickets"].as_u64().unwrap() >= 200, "{k}");
    assert!(k["solved"].as_u64().unwrap() > 0, "{k}");
    assert!(k["csat_count"].as_u64().unwrap() > 0, "{k}");
    assert!(k["backlog_total"].as_u64().unwrap() > 0, "{k}");
    assert!(
        k["sla"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["breached"].as_u64() > Some(0))
    );
    let queue = get(&addr, "/api/v1/tickets?status=new,open&limit=100", &key);
    assert_eq!(queue.status, 200, "{}", queue.body);
    let queue = queue.json();
    let channels: std::collections::BTreeSet<&str> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["channel"].as_str())
        .collect();
    assert!(channels.len() >= 4, "{channels:?}");
    // Some running clock is due within two hours of the server's now (the KPI window's end).
    let now: jiff::Timestamp = k["to"].as_str().unwrap().parse().unwrap();
    let soon = now + jiff::SignedDuration::from_hours(2);
    let mut near = false;
    let mut cursor = String::new();
    while !near {
        let page = get(
            &addr,
            &format!("/api/v1/tickets?status=open&limit=100{cursor}"),
            &key,
        )
        .json();
        for item in page["items"].as_array().unwrap() {
            let ticket = get(&addr, &format!("/api/v1/tickets/{}", item["id"]), &key).json();
            near |= ticket["sla"]["clocks"].as_array().unwrap().iter().any(|c| {
                c["state"] == "running"
                    && c["due_at"]
                        .as_str()
                        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|d| d > now && d <= soon)
            });
            if near {
                break;
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert!(near, "no ticket near breach at the demo's now");
    let trends = get(&addr, "/api/v1/desk/trends?by=category&period=week", &key);
    assert_eq!(trends.status, 200, "{}", trends.body);
    // Order complaints name real demo orders: the trend by product counts their SKUs.
    let by_product = get(&addr, "/api/v1/desk/trends?by=product&period=week", &key);
    assert_eq!(by_product.status, 200, "{}", by_product.body);
    let series = by_product.json()["series"].as_array().unwrap().clone();
    assert!(!series.is_empty(), "no product in the trend");
    let counted: i64 = series
        .iter()
        .flat_map(|s| s["counts"].as_array().unwrap().iter())
        .map(|c| c.as_i64().unwrap())
        .sum();
    assert!(counted >= 20, "{counted} ticket-products counted");
    let skus: Vec<&str> = app::workload::CATALOGUE.iter().map(|c| c.0).collect();
    assert!(
        series
            .iter()
            .all(|s| skus.contains(&s["key"].as_str().unwrap())),
        "the demo's catalogue SKUs only: {series:?}"
    );
    let ab = get(&addr, "/api/v1/desk/ab-tests", &key).json();
    assert!(ab[0]["results"][0]["tickets"].as_i64().unwrap() > 0, "{ab}");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_store_has_the_default_bonus_rules() {
    let dir = std::env::temp_dir().join(format!("patron-demo-rules-{}", std::process::id()));
    let out = patron()
        .args(["demo", "--no-serve", "--customers", "20", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Bonus rules v1"), "{stdout}");
    let url = store::DatabaseUrl::Sqlite {
        path: dir.join("demo.db").to_string_lossy().into_owned(),
    };
    let store = store::Store::open(&url, &store::StoreOptions::default()).unwrap();
    let set = store
        .read(store::bonus::current_rule_set)
        .unwrap()
        .expect("the demo stores bonus rules");
    let kinds: Vec<(&str, i64)> = set
        .rules
        .iter()
        .map(|r| (r.kind.as_str(), r.points))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("birthday", app::bonus::DEFAULT_BIRTHDAY_POINTS),
            ("sign_up", app::bonus::DEFAULT_SIGN_UP_POINTS)
        ]
    );
    assert_eq!(set.leap_day_fallback, "feb28");
    assert_eq!(
        (
            set.referrer_points,
            set.referee_points,
            set.referral_minimum_order_minor,
            set.referral_cap,
            set.referral_cap_period.as_str()
        ),
        (200, 100, 100_000, 10, "month")
    );
    // The birthday run is scheduled: one celebration date pending (the demo's desk runs due
    // jobs, so today's may have run and scheduled tomorrow's).
    let celebrations = store
        .read(|tx| {
            tx.query_one(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'loyalty.celebrate' AND state = 'pending'",
                &[],
            )?
            .int(0)
        })
        .unwrap();
    assert_eq!(celebrations, 1);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn order_intake_logs_no_personal_data() {
    let db = TestDatabase::new(Backend::Sqlite).unwrap();
    let url = db.url_for_child();
    let key_out = patron()
        .args([
            "--database-url",
            &url,
            "keys",
            "create",
            "--role",
            "integration",
        ])
        .output()
        .unwrap();
    let key = String::from_utf8_lossy(&key_out.stdout).trim().to_owned();
    let (mut child, addr, _) = spawn_listening(
        &["--database-url", &url, "serve", "--listen", "127.0.0.1:0"],
        &[("PATRON_LOG", "trace")],
        "listening on",
        None,
    );
    let email = "wang.xiaoming@example.tw";
    let phone = "0912345678";
    let name = "王小明";
    let body = format!(
        r#"{{"source":"web","external_id":"pii-1","customer":{{"identities":{{"email":"{email}","phone":"{phone}"}},"name":"{name}"}},"lines":[{{"sku":"TEA","quantity":1,"unit_price_minor":45000}}]}}"#
    );
    let r = post(&addr, "/api/v1/orders", &key, &body);
    assert_eq!(r.status, 201, "{}", r.body);
    let bad = post(&addr, "/api/v1/orders", &key, &body.replace("45000", "-1"));
    assert_eq!(bad.status, 422);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("/api/v1/orders"),
        "the request was logged: {logs}"
    );
    for secret in [email, "wang.xiaoming", phone, "912345678", name, &key[4..]] {
        assert!(!logs.contains(secret), "log contains {secret:?}:\n{logs}");
    }
}

/// A database a newer Patron has migrated is refused at start, by the store and by the
/// binary, with both schema versions named, and left as it was.
fn newer_schema_is_refused(backend: Backend) {
    let Some(db) = TestDatabase::new(backend) else {
        return;
    };
    let newest_known = store::known_migrations().last().unwrap().version;
    let future = newest_known + 1;
    db.open()
        .write(|tx| {
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_a_newer_patron')",
                store::args![future],
            )
        })
        .unwrap();
    let expected = format!(
        "the database is at schema version {future}, newer than this build of Patron knows ({newest_known})"
    );
    let err = store::Store::open(&db.url, &db.options)
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains(&expected), "{err:#}");
    let out = patron()
        .arg("--database-url")
        .arg(db.url_for_child())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&expected), "{stderr}");
    let versions = store::Store::open_unmigrated(&db.url, &db.options)
        .unwrap()
        .read(|tx| {
            tx.query_one(
                "SELECT CAST(MAX(version) AS BIGINT) FROM schema_migrations",
                &[],
            )?
            .int(0)
        })
        .unwrap();
    assert_eq!(versions, future);
}

#[test]
fn newer_schema_is_refused_sqlite() {
    newer_schema_is_refused(Backend::Sqlite);
}

#[test]
fn newer_schema_is_refused_postgres() {
    newer_schema_is_refused(Backend::Postgres);
}
