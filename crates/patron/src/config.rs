//! Patron's configuration: built-in defaults ← `patron.toml` ← `PATRON_*` environment ← flags.
//!
//! Every layer is flattened to dotted keys (`loyalty.earn_points`), so one table names each
//! key, its environment variable and its parser, and every error names the key and the layer
//! it came from. The result is a plain struct handed down; there is no global.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The validated configuration.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub log: String,
    pub currency: domain::Currency,
    pub earn: domain::EarnRule,
    pub allow_negative_balance: bool,
    pub job_poll_interval_ms: u64,
    pub job_attempts_max: i64,
    pub pool_size: usize,
    /// The desk's e-mail channel (passwords redact themselves in `Debug`).
    pub email: app::email::EmailSettings,
    pub password_reset_url: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The database URL may carry a password: show only its scheme.
        let scheme = self.database_url.split("://").next().unwrap_or("?");
        f.debug_struct("Config")
            .field("database_url", &format_args!("{scheme}://…"))
            .field("listen", &self.listen)
            .field("log", &self.log)
            .field("currency", &self.currency)
            .field("earn", &self.earn)
            .field("allow_negative_balance", &self.allow_negative_balance)
            .field("job_poll_interval_ms", &self.job_poll_interval_ms)
            .field("job_attempts_max", &self.job_attempts_max)
            .field("password_reset_url", &self.password_reset_url)
            .field("pool_size", &self.pool_size)
            .field("email", &self.email)
            .finish()
    }
}

/// Every key: name, default, and what it means (shown by `patron config --help` and docs).
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "database_url",
        "sqlite://patron.db",
        "sqlite://PATH or postgres://…",
    ),
    (
        "listen",
        "127.0.0.1:8080",
        "address `patron serve` listens on",
    ),
    ("log", "info", "tracing filter (e.g. info, patron=debug)"),
    (
        "loyalty.currency",
        "TWD",
        "ISO 4217 currency orders earn points in",
    ),
    (
        "loyalty.earn_points",
        "1",
        "points earned per loyalty.earn_per_minor spent",
    ),
    (
        "loyalty.earn_per_minor",
        "10000",
        "minor units per earn_points (10000 = NT$100)",
    ),
    (
        "loyalty.allow_negative_balance",
        "false",
        "whether reversals may leave a debt",
    ),
    (
        "jobs.poll_interval_ms",
        "1000",
        "how often `serve` looks for due jobs",
    ),
    (
        "jobs.attempts_max",
        "8",
        "attempts before a job is dead-lettered",
    ),
    (
        "database.pool_size",
        "8",
        "database connections per process",
    ),
    (
        "desk.imap.host",
        "",
        "IMAP server the desk fetches mail from (empty: no fetch)",
    ),
    (
        "desk.imap.port",
        "143",
        "IMAP port (143 plain or STARTTLS, 993 implicit TLS)",
    ),
    (
        "desk.imap.tls",
        "none",
        "none, implicit (IMAPS) or starttls; with TLS the mailbox never falls back to plaintext",
    ),
    (
        "desk.imap.ca_file",
        "",
        "PEM CA certificates trusted instead of the built-in web roots (a self-signed server)",
    ),
    ("desk.imap.user", "", "IMAP login"),
    ("desk.imap.password", "", "IMAP password (never logged)"),
    ("desk.imap.mailbox", "INBOX", "mailbox fetched"),
    (
        "desk.imap.fetch_interval_seconds",
        "60",
        "seconds between two fetches",
    ),
    (
        "desk.smtp.host",
        "",
        "SMTP server replies go out through (empty: not sent)",
    ),
    (
        "desk.smtp.port",
        "25",
        "SMTP port (25/587 plain or STARTTLS, 465 implicit TLS)",
    ),
    (
        "desk.smtp.tls",
        "none",
        "none, implicit (SMTPS) or starttls; with TLS nothing is sent in plaintext",
    ),
    (
        "desk.smtp.ca_file",
        "",
        "PEM CA certificates trusted instead of the built-in web roots (a self-signed server)",
    ),
    (
        "desk.smtp.user",
        "",
        "SMTP AUTH PLAIN user (empty: no AUTH)",
    ),
    ("desk.smtp.password", "", "SMTP password (never logged)"),
    ("desk.smtp.from", "", "sender address of the desk's mail"),
    (
        "desk.password_reset_url",
        app::DEFAULT_PASSWORD_RESET_URL,
        "the shop's password-reset page, given in automatic FAQ answers",
    ),
];

/// Environment variables that are not configuration keys but belong to Patron.
const ENV_NOT_KEYS: &[&str] = &["PATRON_CONFIG"];

/// The environment variable for a key: `loyalty.earn_points` → `PATRON_LOYALTY_EARN_POINTS`.
pub fn env_var(key: &str) -> String {
    format!("PATRON_{}", key.replace('.', "_").to_uppercase())
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "the default"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Raw layered values before parsing.
#[derive(Debug, Default)]
pub struct Layers {
    values: BTreeMap<String, (String, Origin)>,
}

impl Layers {
    pub fn defaults() -> Layers {
        let mut l = Layers::default();
        for (k, v, _) in KEYS {
            l.values
                .insert((*k).to_owned(), ((*v).to_owned(), Origin::Default));
        }
        l
    }

    /// Overlays a TOML document (tables become dotted prefixes). Unknown keys are errors.
    pub fn file(&mut self, path: &Path, text: &str) -> Result<()> {
        let doc: toml::Table = text
            .parse()
            .with_context(|| format!("{}: not valid TOML", path.display()))?;
        let mut flat = Vec::new();
        flatten("", &toml::Value::Table(doc), &mut flat);
        for (key, value) in flat {
            if !KEYS.iter().any(|(k, _, _)| *k == key) {
                bail!("{}: unknown configuration key `{key}`", path.display());
            }
            self.values
                .insert(key, (value, Origin::File(path.to_owned())));
        }
        Ok(())
    }

    /// Overlays `PATRON_*` variables. A `PATRON_` variable that names no key is an error
    /// (a typo would otherwise be silently ignored); `PATRON_TEST_*` belongs to the tests.
    pub fn env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        for (name, value) in vars {
            if !name.starts_with("PATRON_")
                || name.starts_with("PATRON_TEST_")
                || ENV_NOT_KEYS.contains(&name.as_str())
            {
                continue;
            }
            let Some((key, _, _)) = KEYS.iter().find(|(k, _, _)| env_var(k) == name) else {
                bail!("environment variable {name} names no configuration key");
            };
            self.values
                .insert((*key).to_owned(), (value, Origin::Env(name)));
        }
        Ok(())
    }

    /// Overlays a value given by a command-line flag.
    pub fn flag(&mut self, key: &str, flag: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.values.insert(
                key.to_owned(),
                (v.to_owned(), Origin::Flag(flag.to_owned())),
            );
        }
    }

    fn get<T>(&self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T> {
        let (raw, origin) = self
            .values
            .get(key)
            .with_context(|| format!("configuration key `{key}` has no value"))?;
        parse(raw)
            .map_err(|why| anyhow::anyhow!("configuration key `{key}` (from {origin}): {why}"))
    }

    /// Parses and validates every key.
    pub fn build(&self) -> Result<Config> {
        let int = |s: &str| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("{s:?} is not an integer"))
        };
        let config = Config {
            database_url: self.get("database_url", |s| {
                store::DatabaseUrl::parse(s)
                    .map(|_| s.to_owned())
                    .map_err(|e| e.to_string())
            })?,
            listen: self.get("listen", |s| {
                s.parse().map_err(|_| format!("{s:?} is not HOST:PORT"))
            })?,
            log: self.get("log", |s| {
                tracing_subscriber::EnvFilter::try_new(s)
                    .map(|_| s.to_owned())
                    .map_err(|e| e.to_string())
            })?,
            currency: self.get("loyalty.currency", |s| {
                domain::Currency::parse(s).map_err(|e| e.reason)
            })?,
            earn: domain::EarnRule::new(
                self.get("loyalty.earn_points", int)?,
                self.get("loyalty.earn_per_minor", int)?,
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "configuration key `loyalty.{}`: {}",
                    e.field.replace("earn.", "earn_"),
                    e.reason
                )
            })?,
            allow_negative_balance: self.get("loyalty.allow_negative_balance", |s| {
                s.parse::<bool>()
                    .map_err(|_| format!("{s:?} is not true or false"))
            })?,
            job_poll_interval_ms: self.get("jobs.poll_interval_ms", |s| {
                match s.parse::<u64>() {
                    Ok(v) if (10..=3_600_000).contains(&v) => Ok(v),
                    _ => Err(format!("{s:?} is not 10 to 3600000")),
                }
            })?,
            job_attempts_max: self.get("jobs.attempts_max", |s| match s.parse::<i64>() {
                Ok(v) if (1..=100).contains(&v) => Ok(v),
                _ => Err(format!("{s:?} is not 1 to 100")),
            })?,
            pool_size: self.get("database.pool_size", |s| match s.parse::<usize>() {
                Ok(v) if (1..=256).contains(&v) => Ok(v),
                _ => Err(format!("{s:?} is not 1 to 256")),
            })?,
            email: self.email()?,
            password_reset_url: self.get("desk.password_reset_url", |s| {
                let ok = (s.starts_with("https://") || s.starts_with("http://"))
                    && s.len() <= 500
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control());
                if ok {
                    Ok(s.to_owned())
                } else {
                    Err(format!(
                        "{s:?} is not an http(s) URL of at most 500 characters"
                    ))
                }
            })?,
        };
        Ok(config)
    }
}

impl Layers {
    fn text(&self, key: &str) -> Result<String> {
        self.get(key, |s| {
            if s.chars().any(char::is_control) {
                Err("must be one line".to_owned())
            } else {
                Ok(s.trim().to_owned())
            }
        })
    }

    fn port(&self, key: &str) -> Result<u16> {
        self.get(key, |s| match s.trim().parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("{s:?} is not a port (1 to 65535)")),
        })
    }

    /// `<prefix>.tls` and `<prefix>.ca_file` (which must exist when set).
    fn tls(&self, prefix: &str) -> Result<app::email::tls::TlsSettings> {
        use app::email::tls::{TlsMode, TlsSettings};
        let mode = self.get(&format!("{prefix}.tls"), |s| {
            TlsMode::parse(s.trim())
                .ok_or_else(|| format!("{s:?} is not none, implicit or starttls"))
        })?;
        let ca = self.text(&format!("{prefix}.ca_file"))?;
        let ca_file = (!ca.is_empty()).then(|| std::path::PathBuf::from(&ca));
        if let Some(path) = &ca_file
            && !path.is_file()
        {
            bail!("configuration key `{prefix}.ca_file`: {ca:?} is not a readable file");
        }
        if ca_file.is_some() && mode == TlsMode::None {
            bail!("configuration key `{prefix}.ca_file` is set but `{prefix}.tls` is none");
        }
        Ok(TlsSettings { mode, ca_file })
    }

    /// `desk.imap.*` and `desk.smtp.*`: each side on when its host is set, and then
    /// complete (a host without a user or sender is an error naming the missing key).
    fn email(&self) -> Result<app::email::EmailSettings> {
        let required = |key: &str| -> Result<String> {
            let v = self.text(key)?;
            if v.is_empty() {
                bail!("configuration key `{key}` must be set when its host is");
            }
            Ok(v)
        };
        let imap = if self.text("desk.imap.host")?.is_empty() {
            None
        } else {
            Some(app::email::imap::ImapSettings {
                host: self.text("desk.imap.host")?,
                port: self.port("desk.imap.port")?,
                user: required("desk.imap.user")?,
                password: required("desk.imap.password")?,
                mailbox: required("desk.imap.mailbox")?,
                tls: self.tls("desk.imap")?,
            })
        };
        let smtp = if self.text("desk.smtp.host")?.is_empty() {
            None
        } else {
            let from = required("desk.smtp.from")?;
            if domain::Email::parse(&from).is_err() {
                bail!("configuration key `desk.smtp.from`: not an e-mail address");
            }
            let opt = |k: &str| -> Result<Option<String>> {
                Ok(Some(self.text(k)?).filter(|v| !v.is_empty()))
            };
            Some(app::email::smtp::SmtpSettings {
                host: self.text("desk.smtp.host")?,
                port: self.port("desk.smtp.port")?,
                user: opt("desk.smtp.user")?,
                password: opt("desk.smtp.password")?,
                from,
                tls: self.tls("desk.smtp")?,
            })
        };
        let fetch_interval_seconds = self.get("desk.imap.fetch_interval_seconds", |s| {
            match s.trim().parse::<i64>() {
                Ok(v) if (1..=86_400).contains(&v) => Ok(v),
                _ => Err(format!("{s:?} is not 1 to 86400")),
            }
        })?;
        Ok(app::email::EmailSettings {
            imap,
            smtp,
            fetch_interval_seconds,
        })
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Loads the configuration: defaults, then the file (`--config`, `PATRON_CONFIG`, or
/// `./patron.toml` when present), then the environment; flags are applied by the caller.
pub fn load(
    config_path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Layers> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut layers = Layers::defaults();
    let from_env = env
        .iter()
        .find(|(k, _)| k == "PATRON_CONFIG")
        .map(|(_, v)| PathBuf::from(v));
    let path = config_path.map(Path::to_owned).or(from_env);
    match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            layers.file(&p, &text)?;
        }
        None => {
            let p = PathBuf::from("patron.toml");
            if let Ok(text) = std::fs::read_to_string(&p) {
                layers.file(&p, &text)?;
            }
        }
    }
    layers.env(env)?;
    Ok(layers)
}

impl Config {
    pub fn settings(&self) -> app::Settings {
        app::Settings {
            currency: self.currency,
            earn: self.earn,
            allow_negative_balance: self.allow_negative_balance,
            job_attempts_max: self.job_attempts_max,
            email: self.email.clone(),
            password_reset_url: self.password_reset_url.clone(),
        }
    }

    pub fn store_options(&self) -> store::StoreOptions {
        store::StoreOptions {
            pool_size: self.pool_size,
            pg_schema: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(file: &str, env: &[(&str, &str)]) -> Result<Config> {
        let mut l = Layers::defaults();
        l.file(Path::new("patron.toml"), file)?;
        l.env(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))?;
        l.build()
    }

    #[test]
    fn layers_override_in_order() {
        let c = build("[loyalty]\nearn_points = 2\n", &[]).unwrap();
        assert_eq!(c.earn.points, 2);
        let c = build(
            "[loyalty]\nearn_points = 2\n",
            &[("PATRON_LOYALTY_EARN_POINTS", "3")],
        )
        .unwrap();
        assert_eq!(c.earn.points, 3);
        let mut l = Layers::defaults();
        l.env([("PATRON_LOYALTY_EARN_POINTS".to_owned(), "3".to_owned())])
            .unwrap();
        l.flag("loyalty.earn_points", "--earn-points", Some("4"));
        assert_eq!(l.build().unwrap().earn.points, 4);
        assert_eq!(c.database_url, "sqlite://patron.db");
    }

    #[test]
    fn errors_name_the_key_and_its_origin() {
        let e = build("listen = \"nowhere\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`listen`") && e.contains("patron.toml"), "{e}");
        let e = build("", &[("PATRON_LOYALTY_CURRENCY", "XXX")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("loyalty.currency") && e.contains("PATRON_LOYALTY_CURRENCY"),
            "{e}"
        );
        let e = build("colour = \"blue\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("`colour`"), "{e}");
        let e = build("", &[("PATRON_DATABSE_URL", "x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PATRON_DATABSE_URL"), "{e}");
        let e = build("database_url = \"mysql://x\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("database_url"), "{e}");
        let e = build("[loyalty]\nearn_per_minor = 0\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("earn_per_minor"), "{e}");
        assert!(build("", &[("PATRON_TEST_POSTGRES_URL", "postgres://x")]).is_ok());
    }

    #[test]
    fn email_keys() {
        let c = build(
            "[desk.imap]\nhost = \"127.0.0.1\"\nuser = \"desk\"\npassword = \"imap-secret\"\n\
             [desk.smtp]\nhost = \"127.0.0.1\"\nport = 2525\nfrom = \"desk@shop.tw\"\npassword = \"smtp-secret\"\n",
            &[],
        )
        .unwrap();
        let imap = c.email.imap.as_ref().unwrap();
        assert_eq!((imap.port, imap.mailbox.as_str()), (143, "INBOX"));
        assert_eq!(c.email.smtp.as_ref().unwrap().port, 2525);
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("imap-secret") && !debug.contains("smtp-secret"),
            "{debug}"
        );
        assert!(build("", &[]).unwrap().email.imap.is_none());
        let e = build("[desk.imap]\nhost = \"h\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("desk.imap.user"), "{e}");
        let e = build(
            "",
            &[
                ("PATRON_DESK_SMTP_HOST", "h"),
                ("PATRON_DESK_SMTP_FROM", "nope"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("desk.smtp.from"), "{e}");
    }

    #[test]
    fn email_tls_keys() {
        use app::email::tls::TlsMode;
        let imap = "[desk.imap]\nhost = \"h\"\nuser = \"u\"\npassword = \"p\"\n";
        let c = build(imap, &[]).unwrap();
        assert_eq!(
            c.email.imap.unwrap().tls.mode,
            TlsMode::None,
            "plain by default"
        );
        let ca = std::env::temp_dir().join(format!("patron-config-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, "not checked here").unwrap();
        let c = build(
            imap,
            &[
                ("PATRON_DESK_IMAP_TLS", "starttls"),
                ("PATRON_DESK_IMAP_CA_FILE", ca.to_str().unwrap()),
                ("PATRON_DESK_SMTP_HOST", "h"),
                ("PATRON_DESK_SMTP_FROM", "desk@shop.tw"),
                ("PATRON_DESK_SMTP_TLS", "implicit"),
            ],
        )
        .unwrap();
        let tls = c.email.imap.unwrap().tls;
        assert_eq!(
            (tls.mode, tls.ca_file),
            (TlsMode::StartTls, Some(ca.clone()))
        );
        let smtp = c.email.smtp.unwrap().tls;
        assert_eq!((smtp.mode, smtp.ca_file), (TlsMode::Implicit, None));
        let refused = |env: &[(&str, &str)], key: &str| {
            let e = build(imap, env).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        };
        refused(&[("PATRON_DESK_IMAP_TLS", "ssl")], "desk.imap.tls");
        refused(
            &[
                ("PATRON_DESK_IMAP_TLS", "implicit"),
                ("PATRON_DESK_IMAP_CA_FILE", "/nonexistent/ca.pem"),
            ],
            "desk.imap.ca_file",
        );
        refused(
            &[("PATRON_DESK_IMAP_CA_FILE", ca.to_str().unwrap())],
            "desk.imap.ca_file",
        );
        let _ = std::fs::remove_file(&ca);
    }

    #[test]
    fn debug_hides_the_database_url() {
        let c = build("database_url = \"postgres://u:secret@h/db\"\n", &[]).unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
