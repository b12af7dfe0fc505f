//! Test fixtures: a [`TestApp`] over a fresh SQLite file or a fresh PostgreSQL schema,
//! a manual clock, seeded entropy and a recording webhook sender; plus the `both_backends!`
//! macro that turns one test body into a SQLite test and a PostgreSQL test.
//! Only ever a dev-dependency.

use app::sys::{ManualClock, SeededEntropy};
use app::webhooks::WebhookSender;
use app::{App, Principal, Settings};
use domain::access::Role;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use store::{DatabaseUrl, Store, StoreOptions};

pub use app;
pub use store;

/// The environment variable naming the PostgreSQL server the tests may use.
pub const POSTGRES_URL_VAR: &str = "PATRON_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The instant every test clock starts at: 2026-03-02T01:00:00Z (09:00 in Taipei).
pub fn start_instant() -> jiff::Timestamp {
    "2026-03-02T01:00:00Z".parse().expect("valid instant")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty database on `backend`: its URL, options and what to clean up.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    pub options: StoreOptions,
    pub dir: Option<PathBuf>,
}

impl TestDatabase {
    /// `None` when PostgreSQL is asked for but not configured (outside CI only).
    pub fn new(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique("patron-test"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join("patron.db").to_string_lossy().into_owned();
                Some(TestDatabase {
                    url: DatabaseUrl::Sqlite { path },
                    options: StoreOptions::default(),
                    dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let url = match std::env::var(POSTGRES_URL_VAR) {
                    Ok(u) if !u.is_empty() => u,
                    _ => {
                        assert!(
                            std::env::var_os("CI").is_none(),
                            "{POSTGRES_URL_VAR} must be set in CI"
                        );
                        eprintln!("{POSTGRES_URL_VAR} not set: PostgreSQL variant not run");
                        return None;
                    }
                };
                let schema = unique("t");
                Some(TestDatabase {
                    url: DatabaseUrl::Postgres { url },
                    options: StoreOptions {
                        pool_size: 8,
                        pg_schema: Some(schema),
                    },
                    dir: None,
                })
            }
        }
    }

    /// The URL a child process (`patron …`) should use; for PostgreSQL it names the schema
    /// through libpq's `options` parameter.
    pub fn url_for_child(&self) -> String {
        match (&self.url, &self.options.pg_schema) {
            (DatabaseUrl::Sqlite { path }, _) => format!("sqlite://{path}"),
            (DatabaseUrl::Postgres { url }, Some(schema)) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}options=-c%20search_path%3D{schema}")
            }
            (DatabaseUrl::Postgres { url }, None) => url.clone(),
        }
    }

    pub fn open(&self) -> Store {
        Store::open(&self.url, &self.options).expect("open test store")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if self.options.pg_schema.is_some()
            && let Ok(store) = Store::open_unmigrated(&self.url, &self.options)
        {
            let _ = store.drop_schema();
        }
    }
}

/// One recorded webhook POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentWebhook {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A webhook sender that records what it is asked to send and answers a scripted status.
#[derive(Debug, Default)]
pub struct RecordingSender {
    pub sent: Mutex<Vec<SentWebhook>>,
    /// Statuses to answer, in order; 200 once exhausted.
    pub script: Mutex<Vec<u16>>,
}

impl WebhookSender for RecordingSender {
    fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> Result<u16, String> {
        self.sent.lock().unwrap().push(SentWebhook {
            url: url.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            body: body.to_owned(),
        });
        let mut script = self.script.lock().unwrap();
        Ok(if script.is_empty() {
            200
        } else {
            script.remove(0)
        })
    }
}

/// An [`App`] over a fresh database with a manual clock.
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub sender: Arc<RecordingSender>,
    pub backend: Backend,
    pub db: TestDatabase,
}

impl TestApp {
    pub fn new(backend: Backend) -> Option<TestApp> {
        TestApp::with_settings(backend, Settings::default())
    }

    pub fn with_settings(backend: Backend, settings: Settings) -> Option<TestApp> {
        let db = TestDatabase::new(backend)?;
        let store = db.open();
        let clock = Arc::new(ManualClock::new(start_instant()));
        let sender = Arc::new(RecordingSender::default());
        let app = App::new(
            store,
            clock.clone(),
            Arc::new(SeededEntropy::new(COUNTER.fetch_add(1, Ordering::Relaxed))),
            sender.clone(),
            settings,
        );
        Some(TestApp {
            app,
            clock,
            sender,
            backend,
            db,
        })
    }

    /// A second app on the same database (another `patron serve` instance).
    pub fn sibling(&self, seed: u64) -> App {
        App::new(
            self.db.open(),
            self.clock.clone(),
            Arc::new(SeededEntropy::new(seed)),
            self.sender.clone(),
            self.app.settings.clone(),
        )
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        self.clock.advance(by);
    }

    pub fn principal(role: Role) -> Principal {
        Principal {
            key_id: None,
            role,
            actor: format!("test:{}", role.as_str()),
        }
    }
}

/// Defines `<name>_sqlite` and `<name>_postgres` tests running `body(&TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let t = $crate::TestApp::new($crate::Backend::Sqlite).expect("sqlite");
                ($body)(&t);
            }
            #[test]
            fn postgres() {
                if let Some(t) = $crate::TestApp::new($crate::Backend::Postgres) {
                    ($body)(&t);
                }
            }
        }
    };
}
