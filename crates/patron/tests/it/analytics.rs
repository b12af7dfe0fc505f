//! `patron analytics` on the CDNOW files through the real binary, its errors on bad input,
//! and the store-backed refit, predictions, KPIs, RFM and cohorts on a demo shop.

use crate::support::{order, refund};
use app::intake::Intake;
use domain::EventKind;
use std::path::PathBuf;
use std::process::Command;
use test_support::{TestApp, both_backends};

const CDNOW_SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/cdnow/CDNOW_sample.txt"
);

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn patron(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_patron"))
        .args(args)
        .env("PATRON_DATABASE_URL", "sqlite::memory:")
        .output()
        .expect("running patron");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn cdnow(subcommand: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["analytics"];
    args.extend(subcommand);
    args.extend([
        CDNOW_SAMPLE,
        "--format",
        "cdnow",
        "--calibration-end",
        "1997-09-30",
    ]);
    args.extend(extra);
    patron(&args)
}

/// A scratch file removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("patron-analytics-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn json_value(run: &Run, name: &str) -> serde_json::Value {
    assert!(run.ok, "{}", run.stderr);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = rows
        .as_array()
        .or_else(|| rows["totals"].as_array())
        .unwrap()
        .clone();
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing: {}", run.stdout))["value"]
        .clone()
}

/// The one JSON object `analytics fit --output json` prints.
fn fit_json(run: &Run) -> serde_json::Value {
    assert!(run.ok, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(report.is_object(), "{}", run.stdout);
    report
}

fn close(name: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{name}: got {got}, want {want} ± {tolerance}"
    );
}

#[test]
fn fit_bgnbd_on_cdnow_sample_prints_parameters_and_convergence() {
    let run = cdnow(&["fit", "--model", "bgnbd"], &[]);
    assert!(run.ok, "{}", run.stderr);
    for needle in [
        "r ",
        "alpha",
        "std_error",
        "log_likelihood",
        "iterations",
        "gradient_norm",
        "converged",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert!(run.stdout.contains("0.2425"), "{}", run.stdout);
    assert!(run.stdout.contains("-9582.4"), "{}", run.stdout);
    let json = fit_json(&cdnow(&["fit", "--model", "bgnbd"], &["--output", "json"]));
    // lifetimes on the unrounded CDNOW summary (analytics.md §3.1).
    for (name, want) in [
        ("r", 0.242593),
        ("alpha", 4.413532),
        ("a", 0.792886),
        ("b", 2.425752),
    ] {
        let got = json["parameters"][name].as_f64().unwrap();
        close(name, got, want, want * 1e-4);
        assert!(json["standard_errors"][name].as_f64().unwrap() > 0.0);
    }
    close(
        "LL",
        json["log_likelihood"].as_f64().unwrap(),
        -9582.43,
        0.01,
    );
    assert_eq!(json["converged"], serde_json::json!(true));
    assert!(json["iterations"].as_u64().unwrap() > 0);
    assert!(json["gradient_norm"].as_f64().unwrap() < 1e-3);
    assert_eq!(json["warnings"], serde_json::json!([]));
}

#[test]
fn other_models_fit_on_cdnow() {
    let gg = fit_json(&cdnow(&["fit", "--model", "gg"], &["--output", "json"]));
    close("p", gg["parameters"]["p"].as_f64().unwrap(), 6.25, 0.05);
    let pnbd = fit_json(&cdnow(&["fit", "--model", "pnbd"], &["--output", "json"]));
    assert!(pnbd["log_likelihood"].as_f64().unwrap() >= -9595.0);
    let mbg = fit_json(&cdnow(&["fit", "--model", "mbgnbd"], &["--output", "json"]));
    close(
        "MBG LL",
        mbg["log_likelihood"].as_f64().unwrap(),
        -9582.13,
        0.02,
    );
}

#[test]
fn predict_and_clv_on_cdnow_holdout() {
    let run = cdnow(&["predict"], &["--output", "json"]);
    assert_eq!(
        json_value(&run, "actual_purchases"),
        serde_json::json!(1882)
    );
    let expected = json_value(&run, "expected_purchases").as_f64().unwrap();
    close("holdout prediction", expected, 1653.4, 2.0);
    let clv = cdnow(&["clv"], &["--output", "json"]);
    // 71,509.90 on the rounded summary; the unrounded times give a few dollars less.
    close(
        "CLV total",
        json_value(&clv, "clv_total").as_f64().unwrap(),
        71_509.9,
        5.0,
    );
    let table = cdnow(&["clv"], &["--limit", "2"]);
    assert!(table.ok, "{}", table.stderr);
    assert!(table.stdout.contains("clv_total"), "{}", table.stdout);
    assert!(!table.stdout.contains("NaN"));
}

#[test]
fn summary_rfm_cohorts_and_kpis_print() {
    let summary = patron(&[
        "analytics",
        "summary",
        CDNOW_SAMPLE,
        "--format",
        "cdnow",
        "--output",
        "csv",
    ]);
    assert!(summary.ok, "{}", summary.stderr);
    assert_eq!(summary.stdout.lines().count(), 2_358);
    assert!(
        summary
            .stdout
            .starts_with("customer_id,frequency,recency,T,monetary_value\n")
    );
    let rfm = cdnow(&["rfm"], &["--segments"]);
    assert!(rfm.ok && rfm.stdout.contains("Champions"), "{}", rfm.stdout);
    let cohorts = cdnow(&["cohorts"], &["--output", "csv"]);
    assert!(cohorts.ok, "{}", cohorts.stderr);
    assert!(cohorts.stdout.contains("1997-01,"), "{}", cohorts.stdout);
    let kpis = patron(&[
        "analytics",
        "kpis",
        CDNOW_SAMPLE,
        "--format",
        "cdnow",
        "--from",
        "1997-04-01",
        "--to",
        "1997-06-30",
        "--cac",
        "20",
        "--output",
        "json",
    ]);
    assert!(json_value(&kpis, "retention_rate").as_f64().is_some());
    assert!(json_value(&kpis, "ltv_to_cac").as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_names_file_line_and_column() {
    let missing = TempFile::new("missing.csv", "customer_id,when,amount\na,2020-01-01,1\n");
    let run = patron(&["analytics", "summary", missing.path()]);
    assert!(!run.ok);
    assert!(run.stderr.contains(missing.path()), "{}", run.stderr);
    assert!(
        run.stderr.contains("line 1") && run.stderr.contains("date"),
        "{}",
        run.stderr
    );
    let bad = TempFile::new(
        "bad.csv",
        "customer_id,date,amount\na,2020-01-01,1\nb,2020-13-01,1\n",
    );
    let run = patron(&["analytics", "summary", bad.path()]);
    assert!(!run.ok);
    assert!(
        run.stderr.contains("line 3, column 3") && run.stderr.contains("2020-13-01"),
        "{}",
        run.stderr
    );
    let negative = TempFile::new("negative.csv", "customer_id,date,amount\na,2020-01-01,-5\n");
    let run = patron(&["analytics", "summary", negative.path()]);
    assert!(
        !run.ok && run.stderr.contains("column 14"),
        "{}",
        run.stderr
    );
    let empty = TempFile::new("empty.csv", "");
    let run = patron(&["analytics", "summary", empty.path()]);
    assert!(
        !run.ok && run.stderr.contains("no transactions"),
        "{}",
        run.stderr
    );
}

/// Numeric customer ids take the one-pass CSV summary (fit, predict, clv, summary):
/// its answers match the transaction path's, and bad input still names file, line, column.
#[test]
fn numeric_csv_takes_the_fast_path_with_the_same_answers_and_errors() {
    // CDNOW's sample as a lifetimes-layout CSV: numeric ids, ISO dates, in weeks.
    let cdnow_text = std::fs::read_to_string(CDNOW_SAMPLE).unwrap();
    let mut text = String::from("customer_id,date,amount\n");
    for line in cdnow_text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let d = f[2];
        let id: u32 = f[1].parse().unwrap();
        text += &format!("{id},{}-{}-{},{}\n", &d[..4], &d[4..6], &d[6..], f[4]);
    }
    let log = TempFile::new("fast.csv", &text);
    let csv = |command: &str, extra: &[&str]| {
        let mut args = vec!["analytics", command, log.path(), "--multiplier", "7"];
        args.extend(extra);
        patron(&args)
    };
    let cdnow = |command: &str, extra: &[&str]| {
        let mut args = vec!["analytics", command, CDNOW_SAMPLE, "--format", "cdnow"];
        args.extend(extra);
        patron(&args)
    };
    // The one-pass summary gives the transaction path's answers.
    let fast = csv("summary", &["--output", "csv"]);
    assert!(fast.ok, "{}", fast.stderr);
    let reference = cdnow("summary", &["--output", "csv"]);
    assert!(
        fast.stdout == reference.stdout,
        "the one-pass summary differs from the transaction path's"
    );
    let ours = fit_json(&csv("fit", &["--output", "json"]));
    let fitted = fit_json(&cdnow("fit", &["--output", "json"]));
    assert_eq!(ours["customers"], 2_357);
    for name in ["r", "alpha", "a", "b"] {
        let (got, want) = (
            ours["parameters"][name].as_f64().unwrap(),
            fitted["parameters"][name].as_f64().unwrap(),
        );
        close(name, got, want, 1e-9 * want.abs());
    }
    let clv = json_value(&csv("clv", &["--output", "json"]), "clv_total");
    let clv_reference = json_value(&cdnow("clv", &["--output", "json"]), "clv_total");
    close(
        "clv_total",
        clv.as_f64().unwrap(),
        clv_reference.as_f64().unwrap(),
        0.01,
    );
    let predicted = json_value(&csv("predict", &["--output", "json"]), "expected_purchases");
    let predicted_reference = json_value(
        &cdnow("predict", &["--output", "json"]),
        "expected_purchases",
    );
    assert_eq!(predicted, predicted_reference);
    let until = csv("summary", &["--observation-end", "1997-12-31"]);
    assert!(
        until.ok && until.stderr.contains("after the observation end"),
        "{}",
        until.stderr
    );

    for (name, content, command, wants) in [
        (
            "fast-date.csv",
            "customer_id,date,amount\n1,2020-01-01,1\n2,2020-13-01,1\n",
            "fit",
            &["line 3, column 3", "2020-13-01"][..],
        ),
        (
            "fast-negative.csv",
            "customer_id,date,amount\n1,2020-01-01,1\n1,2020-01-02,-5\n",
            "clv",
            &["line 3, column 14", "-5"][..],
        ),
        (
            "fast-column.csv",
            "customer_id,day,amount\n1,2020-01-01,1\n",
            "predict",
            &["line 1", "no date column"][..],
        ),
        ("fast-empty.csv", "", "fit", &["no transactions"][..]),
        (
            "fast-header-only.csv",
            "customer_id,date,amount\n",
            "summary",
            &["no transactions"][..],
        ),
    ] {
        let file = TempFile::new(name, content);
        let run = patron(&["analytics", command, file.path()]);
        assert!(!run.ok, "{name}: {}", run.stdout);
        assert!(run.stderr.contains(file.path()), "{name}: {}", run.stderr);
        for want in wants {
            assert!(run.stderr.contains(want), "{name}: {want}: {}", run.stderr);
        }
    }
}

#[test]
fn degenerate_data_is_reported_not_printed_as_nan() {
    let one = TempFile::new(
        "one.csv",
        "customer_id,date,amount\na,2020-01-01,1\na,2020-02-01,2\n",
    );
    let run = patron(&["analytics", "fit", one.path()]);
    assert!(!run.ok);
    assert!(run.stderr.contains("customers"), "{}", run.stderr);
    let nobody = TempFile::new(
        "nobody.csv",
        "customer_id,date,amount\na,2020-01-01,1\nb,2020-02-01,2\n",
    );
    let run = patron(&["analytics", "fit", nobody.path()]);
    assert!(!run.ok && run.stderr.contains("repeat"), "{}", run.stderr);
    let late = TempFile::new(
        "late.csv",
        "customer_id,date,amount\na,2020-01-01,1\na,2020-03-01,2\nb,2020-01-05,3\n",
    );
    let run = patron(&[
        "analytics",
        "summary",
        late.path(),
        "--observation-end",
        "2020-02-01",
    ]);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("after the observation end"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("NaN"));
    let quoted = TempFile::new(
        "quoted.csv",
        "\"customer_id\",\"date\",\"amount\"\n\"a, inc\",\"2020-01-01\",\"1.5\"\n",
    );
    let run = patron(&["analytics", "summary", quoted.path(), "--output", "json"]);
    assert!(run.ok && run.stdout.contains("a, inc"), "{}", run.stderr);
}

both_backends!(refit_on_a_demo_shop_answers_predictions, |t: &TestApp| {
    let shop = patron::demo::fill(&t.app, 400, 7).unwrap();
    let _ = shop;
    let app = &t.app;
    let outcome = app
        .refit_analytics(&TestApp::principal(domain::access::Role::Admin))
        .unwrap();
    assert_eq!(outcome.version, 1);
    assert!(outcome.converged);
    assert!(outcome.customers > 0 && outcome.predictions == outcome.customers);
    let (fit, segments) = app.rfm_segments().unwrap();
    assert_eq!(fit.unwrap().version, 1);
    assert_eq!(
        segments.iter().map(|s| s.customers).sum::<i64>(),
        outcome.customers
    );
    let customer = store_customer_with_orders(t);
    let p = app.customer_predictions(customer).unwrap().unwrap();
    assert!((0..=1_000_000).contains(&p.prediction.p_alive_ppm));
    assert!(p.prediction.expected_purchases_90d_milli >= 0);
    assert!(p.prediction.clv_12m_minor.is_some_and(|v| v >= 0));
    assert!((1..=5).contains(&p.prediction.rfm_recency));
    let cohorts = app.cohorts().unwrap();
    assert!(!cohorts.is_empty());
    assert_eq!(cohorts[0].retention_ppm[0], 1_000_000);
    let today = app.now().strftime("%Y-%m-%d").to_string();
    let from = app.kpi_default_from(&today).unwrap();
    let k = app.period_kpis(&from, &today).unwrap();
    assert!(k.figures.orders >= 0);
    assert!(app.period_kpis(&today, &from).is_err());
    // The durable job refits again as version 2.
    assert!(app.enqueue_refit().unwrap().is_some());
    let run = app.run_pending_jobs().unwrap();
    assert_eq!(run.done, 1);
    assert_eq!(app.rfm_segments().unwrap().0.unwrap().version, 2);
});

/// A customer id that has orders.
fn store_customer_with_orders(t: &TestApp) -> i64 {
    t.app
        .store
        .read(|tx| {
            let w = store::predictions::order_window(tx)?.unwrap();
            let orders = store::predictions::orders_of_customers(
                tx,
                w.customer_id_min - 1,
                w.customer_id_max,
                i64::MAX,
            )?;
            Ok::<_, anyhow::Error>(orders[0].customer_id)
        })
        .unwrap()
}

both_backends!(
    refunds_come_off_the_orders_the_refit_models,
    |t: &TestApp| {
        patron::demo::fill(&t.app, 400, 7).unwrap();
        let app = &t.app;
        let who = TestApp::principal(domain::access::Role::Integration);
        let days_ago = |d: i64| Some(app.now() - jiff::SignedDuration::from_hours(24 * d));
        let place = |id: &str, shop_customer: &str, quantity, unit, d| {
            let mut o = order(id, shop_customer, quantity, unit);
            o.occurred_at = days_ago(d);
            let Intake::Accepted(placed) = app.place_order(&who, &o).unwrap() else {
                panic!("accepted")
            };
            placed.customer_id
        };
        // Three orders on separate days: the second half refunded, the third cancelled.
        let kept = place("AR-1", "AR", 1, 10_000, 60);
        place("AR-2", "AR", 2, 20_000, 40);
        place("AR-3", "AR", 1, 30_000, 20);
        app.refund_order(&who, &refund("AR-RF-2", "AR-2", Some(vec![(0, 1)])))
            .unwrap();
        let mut cancel = refund("AR-RF-3", "AR-3", None);
        cancel.kind = EventKind::OrderCancelled;
        app.refund_order(&who, &cancel).unwrap();
        // A customer whose only order is refunded in full bought nothing.
        let gone = place("AG-1", "AG", 1, 50_000, 30);
        app.refund_order(&who, &refund("AG-RF-1", "AG-1", None))
            .unwrap();
        let orders_of = |customer: i64| {
            app.store
                .read(|tx| {
                    store::predictions::orders_of_customers(tx, customer - 1, customer, i64::MAX)
                })
                .unwrap()
                .iter()
                .map(|o| o.amount_minor)
                .collect::<Vec<_>>()
        };
        assert_eq!(orders_of(kept), vec![10_000, 20_000]);
        assert_eq!(orders_of(gone), Vec::<i64>::new());
        let outcome = app
            .refit_analytics(&TestApp::principal(domain::access::Role::Admin))
            .unwrap();
        let window = app
            .store
            .read(store::predictions::order_window)
            .unwrap()
            .unwrap();
        assert_eq!(
            (outcome.orders, outcome.customers),
            (window.orders, window.customers)
        );
        assert!(app.customer_predictions(gone).unwrap().is_none());
        let p = app.customer_predictions(kept).unwrap().unwrap().prediction;
        // One repeat purchase (the cancelled order is none), worth its net NT$200.
        assert!(p.clv_12m_minor.is_some_and(|v| v > 0));
        assert!(p.expected_purchases_90d_milli > 0);
    }
);
