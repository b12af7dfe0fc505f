//! House rules that a compiler does not check: each crate's workspace dependencies match the
//! table in ARCHITECTURE.md, and `domain` pulls in no runtime, web framework, driver or JSON.

use std::collections::{BTreeMap, BTreeSet};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const CRATES: &[&str] = &[
    "domain",
    "analytics",
    "store",
    "app",
    "api",
    "patron",
    "test-support",
];

fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(format!("{ROOT}/ARCHITECTURE.md")).unwrap();
    let section = text
        .split("## Crate dependencies")
        .nth(1)
        .expect("ARCHITECTURE.md has a Crate dependencies section");
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 2 {
            break;
        }
        let deps = cells[1]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        table.insert(cells[0].to_owned(), deps);
    }
    table
}

fn actual(krate: &str) -> BTreeSet<String> {
    let manifest: toml::Table =
        std::fs::read_to_string(format!("{ROOT}/crates/{krate}/Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|deps| {
            deps.keys()
                .filter(|k| CRATES.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn crate_edges_match_architecture_md() {
    let table = documented();
    for krate in CRATES {
        let documented = table
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is missing from ARCHITECTURE.md"));
        assert_eq!(
            &actual(krate),
            documented,
            "workspace dependencies of {krate}"
        );
    }
    assert_eq!(
        table.len(),
        CRATES.len(),
        "ARCHITECTURE.md lists a crate that does not exist"
    );
}

#[test]
fn domain_depends_on_no_runtime_framework_driver_or_json() {
    let lock: toml::Table = std::fs::read_to_string(format!("{ROOT}/Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let packages = lock["package"].as_array().unwrap();
    let deps_of = |name: &str| -> Vec<String> {
        packages
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str())
                    .map(|d| d.split(' ').next().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut seen = BTreeSet::new();
    let mut todo = vec!["domain".to_owned()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(deps_of(&p));
        }
    }
    for banned in [
        "tokio",
        "async-std",
        "axum",
        "hyper",
        "sqlx",
        "rusqlite",
        "postgres",
        "tokio-postgres",
        "serde_json",
        "reqwest",
        "ureq",
    ] {
        assert!(
            !seen.contains(banned),
            "domain depends on {banned} (through {seen:?})"
        );
    }
    assert!(seen.contains("jiff"), "the closure was computed: {seen:?}");
}
