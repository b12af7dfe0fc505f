//! The e-mail channel against real servers: Dovecot (IMAP) started with a temporary
//! configuration, and Python's aiosmtpd (SMTP) writing what it receives to a Maildir.
//! `.ci/run` installs both and names them in `PATRON_TEST_DOVECOT` and
//! `PATRON_TEST_AIOSMTPD_PYTHON`; in CI a missing server fails the test, locally it is
//! skipped with a notice. Background work runs through `run_pending_jobs()` and the manual
//! clock, never sleeps.

use app::email::imap::{Client, ImapSettings};
use app::email::smtp::SmtpSettings;
use app::email::tls::{TlsMode, TlsSettings};
use app::email::{EmailSettings, InboundOutcome};
use app::workload::Rng;
use domain::email::{EMAIL_ATTACHMENT_BYTES_MAX, IgnoreReason, parse_message};
use jiff::SignedDuration;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use test_support::{Backend, TestApp, both_backends};

const IMAP_USER: &str = "desk";
const IMAP_PASSWORD: &str = "imap pass \"quoted\"";
const SMTP_USER: &str = "desk";
const SMTP_PASSWORD: &str = "smtp-pass";
const DESK_ADDRESS: &str = "desk@shop.example.tw";

/// The SMTP server: aiosmtpd's Maildir handler behind AUTH PLAIN (no TLS on localhost);
/// recipients `reject…` are refused for good (550), `later…` for now (451).
const SMTPD_SCRIPT: &str = r#"
import sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult

host, port, maildir, user, password = sys.argv[1:6]
# Optional: "starttls" or "implicit", with the certificate and key files.
mode = sys.argv[6] if len(sys.argv) > 6 else "plain"
tls = {}
if mode != "plain":
    import ssl
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[7], sys.argv[8])
    if mode == "starttls":
        tls = dict(tls_context=context, require_starttls=True)
    else:
        tls = dict(ssl_context=context)

class Handler(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok)

controller = Controller(Handler(maildir), hostname=host, port=int(port),
                        authenticator=authenticate, auth_required=True,
                        auth_require_tls=(mode == "starttls"), **tls)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "patron-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The program a variable names, or its default when that exists; `None` (with a notice)
/// when missing outside CI; a failure in CI.
fn tool(var: &str, default: Option<PathBuf>) -> Option<PathBuf> {
    let found = std::env::var_os(var)
        .map(PathBuf::from)
        .or(default)
        .filter(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{var} must name an installed program in CI (.ci/run installs it)"
        );
        eprintln!("{var} not set and no default found: e-mail server test skipped");
    }
    found
}

fn output(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A test CA and a server certificate it signed for `localhost` and 127.0.0.1, made by the
/// `openssl` CLI (rustls does not take a self-signed certificate as its own CA).
struct TestCerts {
    dir: PathBuf,
}

impl TestCerts {
    fn make() -> TestCerts {
        let dir = temp_dir("certs");
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("the openssl CLI");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=Patron test CA"],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat());
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        TestCerts { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Dovecot on an unused port, with a passwd-file user and Maildirs in a temporary dir.
/// With certificates: `ssl = required`, STARTTLS on `port` and IMAPS on `imaps_port`.
struct Dovecot {
    dir: PathBuf,
    port: u16,
    imaps_port: u16,
    /// How the test itself connects (to place mail).
    tls: TlsSettings,
}

impl Dovecot {
    fn start() -> Option<Dovecot> {
        Dovecot::start_with(None)
    }

    fn start_with(certs: Option<&TestCerts>) -> Option<Dovecot> {
        let binary = tool(
            "PATRON_TEST_DOVECOT",
            Some(PathBuf::from("/usr/sbin/dovecot")),
        )?;
        let dir = temp_dir("dovecot");
        let port = unused_port();
        let imaps_port = unused_port();
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // Mail processes may not run as root: as root, mail belongs to nobody (65534) and
        // the login and internal processes to Dovecot's own users; otherwise everything
        // runs as the current user.
        let (login_user, internal_user, uid, gid) = if output("id", &["-u"]) == "0" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
            (
                "dovenull".to_owned(),
                "dovecot".to_owned(),
                "65534".to_owned(),
                "65534".to_owned(),
            )
        } else {
            let me = output("id", &["-un"]);
            (me.clone(), me, output("id", &["-u"]), output("id", &["-g"]))
        };
        std::fs::write(
            dir.join("passwd"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n"),
        )
        .unwrap();
        let d = dir.display();
        let (ssl, imaps, tls) = match certs {
            None => (
                "ssl = no\ndisable_plaintext_auth = no".to_owned(),
                String::new(),
                TlsSettings::default(),
            ),
            Some(c) => (
                format!(
                    "ssl = required\nssl_cert = <{}\nssl_key = <{}\ndisable_plaintext_auth = yes",
                    c.cert().display(),
                    c.key().display()
                ),
                format!("  inet_listener imaps {{\n    port = {imaps_port}\n    ssl = yes\n  }}\n"),
                TlsSettings {
                    mode: TlsMode::StartTls,
                    ca_file: Some(c.ca()),
                },
            ),
        };
        let config = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             protocols = imap\nlisten = 127.0.0.1\n{ssl}\n\
             auth_mechanisms = plain login\n\
             default_login_user = {login_user}\ndefault_internal_user = {internal_user}\n\
             default_internal_group = {internal_user}\nfirst_valid_uid = 0\n\
             mail_location = maildir:{d}/home/%u/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n{imaps}  chroot =\n}}\n\
             service anvil {{\n  chroot =\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/home/%u\n}}\n"
        );
        let conf = dir.join("dovecot.conf");
        std::fs::write(&conf, config).unwrap();
        // Without -F the master binds its listeners, then forks and returns. The daemon gets
        // no stdio of ours: a pipe it inherited would keep the test run's output open.
        let status = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "dovecot did not start; see {d}/dovecot.log"
        );
        Some(Dovecot {
            dir,
            port,
            imaps_port,
            tls,
        })
    }

    fn settings(&self) -> ImapSettings {
        ImapSettings {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            user: IMAP_USER.to_owned(),
            password: IMAP_PASSWORD.to_owned(),
            mailbox: "INBOX".to_owned(),
            tls: TlsSettings::default(),
        }
    }

    /// Places a message in the inbox by IMAP APPEND.
    fn deliver(&self, message: &[u8]) {
        let mut c = Client::open("127.0.0.1", self.port, &self.tls).unwrap();
        c.login(IMAP_USER, IMAP_PASSWORD).unwrap();
        c.append("INBOX", message).unwrap();
        c.logout().unwrap();
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("run/master.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// aiosmtpd on an unused port, writing received mail to a Maildir.
struct Smtpd {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Smtpd {
    fn start() -> Option<Smtpd> {
        Smtpd::start_with(None)
    }

    /// With `(mode, certificates)`: `starttls` (required before MAIL and AUTH) or
    /// `implicit` (SMTPS).
    fn start_with(tls: Option<(&str, &TestCerts)>) -> Option<Smtpd> {
        let default = std::env::var_os("CARGO_TARGET_DIR")
            .map(|d| PathBuf::from(d).join("aiosmtpd-venv/bin/python"));
        let python = tool("PATRON_TEST_AIOSMTPD_PYTHON", default)?;
        let dir = temp_dir("smtpd");
        let script = dir.join("smtpd.py");
        std::fs::write(&script, SMTPD_SCRIPT).unwrap();
        let port = unused_port();
        let maildir = dir.join("Maildir");
        let mut child = Command::new(python)
            .arg(&script)
            .args(["127.0.0.1", &port.to_string()])
            .arg(&maildir)
            .args([SMTP_USER, SMTP_PASSWORD])
            .args(
                tls.map(|(mode, c)| {
                    vec![
                        mode.to_owned(),
                        c.cert().display().to_string(),
                        c.key().display().to_string(),
                    ]
                })
                .unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Some(Smtpd { child, dir, port })
    }

    fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".to_owned(),
            port: self.port,
            user: Some(SMTP_USER.to_owned()),
            password: Some(SMTP_PASSWORD.to_owned()),
            from: DESK_ADDRESS.to_owned(),
            tls: TlsSettings::default(),
        }
    }

    /// What the server received, oldest first.
    fn received(&self) -> Vec<domain::email::ParsedEmail> {
        let new = self.dir.join("Maildir/new");
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&new)
            .map(|d| {
                d.map(|e| {
                    let e = e.unwrap();
                    (e.metadata().unwrap().modified().unwrap(), e.path())
                })
                .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|(_, p)| parse_message(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn app_with(
    backend: Backend,
    imap: Option<ImapSettings>,
    smtp: Option<SmtpSettings>,
) -> Option<TestApp> {
    TestApp::with_settings(
        backend,
        app::Settings {
            email: EmailSettings {
                imap,
                smtp,
                fetch_interval_seconds: 60,
            },
            ..app::Settings::default()
        },
    )
}

/// `text` in Big5.
fn big5(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::BIG5.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn ticket_count(t: &TestApp) -> usize {
    t.app
        .tickets(&app::desk::TicketQuery::default(), 0, 100)
        .unwrap()
        .len()
}

fn customer_bodies(t: &TestApp, ticket_id: i64) -> Vec<String> {
    t.app
        .ticket(ticket_id)
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == "message" && e.from.as_deref() == Some("customer"))
        .filter_map(|e| e.body)
        .collect()
}

/// The whole path: IMAP fetch → ticket with the Big5 body decoded → acknowledgement over
/// SMTP with the reference and In-Reply-To → SLA breach stored once with the clock advanced
/// → the customer's reply threaded by In-Reply-To → a restart fetches nothing twice.
fn imap_to_ticket_to_smtp_to_breach(backend: Backend) {
    let (Some(dovecot), Some(smtpd)) = (Dovecot::start(), Smtpd::start()) else {
        return;
    };
    let Some(t) = app_with(backend, Some(dovecot.settings()), Some(smtpd.settings())) else {
        return;
    };
    let body = "我的包裹還沒到，請幫忙查詢";
    let mut first = b"From: =?UTF-8?B?546L5bCP5piO?= <ming@example.tw>\r\n\
        To: desk@shop.example.tw\r\nSubject: =?big5?B?pl6rSA==?=\r\n\
        Message-ID: <c1@example.tw>\r\nMIME-Version: 1.0\r\n\
        Content-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    first.extend_from_slice(&big5(body));
    first.extend_from_slice(b"\r\n");
    dovecot.deliver(&first);

    assert!(t.app.schedule_email_fetch().unwrap());
    let run = t.app.run_pending_jobs().unwrap();
    assert_eq!((run.retried, run.dead), (0, 0), "{run:?}");
    let tickets = t
        .app
        .tickets(&app::desk::TicketQuery::default(), 0, 10)
        .unwrap();
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    assert_eq!(ticket.channel, "email");
    assert_eq!(ticket.subject.as_deref(), Some("回信"));
    assert_eq!(customer_bodies(&t, ticket.id), [body]);

    let received = smtpd.received();
    assert_eq!(received.len(), 1, "one acknowledgement");
    let ack = &received[0];
    assert!(
        ack.subject
            .as_deref()
            .unwrap()
            .starts_with(&format!("[{}]", ticket.reference)),
        "{:?}",
        ack.subject
    );
    assert_eq!(ack.in_reply_to, ["c1@example.tw"]);
    assert_eq!(ack.references, ["c1@example.tw"]);
    assert_eq!(ack.header("auto-submitted"), Some("auto-replied"));
    assert_eq!(ack.header("to"), Some("ming@example.tw"));
    assert!(ack.text.contains(&ticket.reference), "{}", ack.text);
    let ack_id = ack.message_id.clone().unwrap();

    // Nobody answers: ten days later the first response has breached, stored once.
    for _ in 0..3 {
        t.advance(SignedDuration::from_hours(80));
        t.app.run_pending_jobs().unwrap();
    }
    let breaches = t
        .app
        .store
        .read(|tx| store::desk::count_sla_events(tx, "first_response", "breach"))
        .unwrap();
    assert_eq!(breaches, vec![(ticket.id, 1)]);

    // The customer answers the acknowledgement from a mail client: In-Reply-To only.
    let reply = format!(
        "From: ming@example.tw\r\nSubject: Re: =?UTF-8?B?5Zue5L+h?=\r\nMessage-ID: <c2@example.tw>\r\n\
         In-Reply-To: <{ack_id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n還是沒有收到\r\n"
    );
    dovecot.deliver(reply.as_bytes());
    t.advance(SignedDuration::from_mins(1));
    t.app.run_pending_jobs().unwrap();
    assert_eq!(ticket_count(&t), 1, "threaded, not a new ticket");
    assert_eq!(customer_bodies(&t, ticket.id), [body, "還是沒有收到"]);

    // Another instance (a restart) finds nothing new in the mailbox.
    let sibling = t.sibling(99);
    let again = sibling.fetch_mail(&dovecot.settings()).unwrap();
    assert_eq!(again.fetched, 0);
}

#[test]
fn imap_to_ticket_to_smtp_to_breach_sqlite() {
    imap_to_ticket_to_smtp_to_breach(Backend::Sqlite);
}

#[test]
fn imap_to_ticket_to_smtp_to_breach_postgres() {
    imap_to_ticket_to_smtp_to_breach(Backend::Postgres);
}

/// SMTP outcomes: a 5xx recipient is dead-lettered at once, a 4xx one retried; automatic
/// replies to one sender stop at the per-sender limit; an agent's reply goes out threaded.
fn smtp_failures_rate_limit_and_agent_reply(backend: Backend) {
    let Some(smtpd) = Smtpd::start() else {
        return;
    };
    let Some(t) = app_with(backend, None, Some(smtpd.settings())) else {
        return;
    };
    let mail = |from: &str, n: usize| {
        format!(
            "From: {from}\r\nSubject: question {n}\r\nMessage-ID: <q{n}.{from}>\r\n\r\nhello {n}\r\n"
        )
    };
    let receive = |raw: &str| t.app.receive_email("webhook", raw.as_bytes()).unwrap();

    let InboundOutcome::Ticket { ticket_id, .. } = receive(&mail("reject@example.tw", 1)) else {
        panic!("a ticket");
    };
    let run = t.app.run_pending_jobs().unwrap();
    assert_eq!((run.done, run.dead), (0, 1), "550 is permanent: {run:?}");
    let out = t.app.ticket_emails(ticket_id).unwrap();
    let failed = out.iter().find(|m| m.direction == "out").unwrap();
    assert_eq!(failed.outcome, "failed");
    assert!(
        failed.reason.as_deref().unwrap().starts_with("550 5.1.1"),
        "{failed:?}"
    );
    let dead = t
        .app
        .store
        .read(|tx| store::jobs::states_of_kind(tx, app::email::SEND_JOB))
        .unwrap();
    assert_eq!(
        (dead[0].1.as_str(), dead[0].2),
        ("dead", 1),
        "no retry after a 5xx"
    );

    assert!(matches!(
        receive(&mail("later@example.tw", 2)),
        InboundOutcome::Ticket { .. }
    ));
    let run = t.app.run_pending_jobs().unwrap();
    assert_eq!(run.retried, 1, "451 is retried: {run:?}");

    for n in 0..(app::email::AUTO_REPLIES_PER_SENDER_MAX + 1) {
        receive(&mail("busy@example.tw", 10 + n as usize));
        t.app.run_pending_jobs().unwrap();
    }
    let from_desk = format!("From: {DESK_ADDRESS}\r\nMessage-ID: <fwd@x>\r\n\r\nforwarded back");
    assert_eq!(
        receive(&from_desk),
        InboundOutcome::Ignored {
            reason: IgnoreReason::OwnMessage
        }
    );
    let to_busy = smtpd
        .received()
        .iter()
        .filter(|m| m.header("to") == Some("busy@example.tw"))
        .count();
    assert_eq!(to_busy as i64, app::email::AUTO_REPLIES_PER_SENDER_MAX);

    let InboundOutcome::Ticket { ticket_id, .. } = receive(&mail("amy@example.tw", 20)) else {
        panic!("a ticket");
    };
    let agent = TestApp::principal(domain::access::Role::Agent);
    t.app
        .add_message(
            &agent,
            ticket_id,
            &app::desk::MessageInput {
                from: "agent".to_owned(),
                body: "已為您查詢，包裹明天送達。\n.\n客服 小林".to_owned(),
                ack_only: false,
            },
        )
        .unwrap();
    t.app.run_pending_jobs().unwrap();
    let to_amy: Vec<_> = smtpd
        .received()
        .into_iter()
        .filter(|m| m.header("to") == Some("amy@example.tw"))
        .collect();
    assert_eq!(to_amy.len(), 2, "acknowledgement and answer");
    let answer = &to_amy[1];
    assert_eq!(
        answer.header("auto-submitted"),
        None,
        "a person's answer is not automatic"
    );
    assert_eq!(
        answer.text, "已為您查詢，包裹明天送達。\n.\n客服 小林",
        "dot-stuffing undone"
    );
    assert_eq!(answer.in_reply_to, ["q20.amy@example.tw"]);
}

/// An agent's reply carries stored attachments of the ticket: received by the real SMTP
/// listener, the message parses back with each file's name (Chinese, RFC 2231) and bytes
/// intact. Attachments of another ticket, on a customer's message or on a non-e-mail ticket
/// are refused and nothing is queued.
fn agent_reply_carries_attachments(backend: Backend) {
    let Some(smtpd) = Smtpd::start() else {
        return;
    };
    let Some(t) = app_with(backend, None, Some(smtpd.settings())) else {
        return;
    };
    let pdf: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let photo: Vec<u8> = (0..3_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let inbound = |from: &str, id: &str, files: Vec<domain::email::OutgoingAttachment>| {
        domain::email::compose(&domain::email::Outgoing {
            from: from.to_owned(),
            to: DESK_ADDRESS.to_owned(),
            subject: "退貨".to_owned(),
            message_id: id.to_owned(),
            in_reply_to: None,
            references: Vec::new(),
            auto_replied: false,
            date: "2026-03-02T01:00:00Z".parse().unwrap(),
            body: "附上退貨單和照片".to_owned(),
            attachments: files,
        })
    };
    let file = |name: &str, ct: &str, data: &[u8]| domain::email::OutgoingAttachment {
        filename: Some(name.to_owned()),
        content_type: ct.to_owned(),
        data: data.to_vec(),
    };
    let raw = inbound(
        "ming@example.tw",
        "in1@example.tw",
        vec![
            file("退貨申請單（已簽名）.pdf", "application/pdf", &pdf),
            file("破損照片.png", "image/png", &photo),
        ],
    );
    let InboundOutcome::Ticket { ticket_id, .. } =
        t.app.receive_email("webhook", raw.as_bytes()).unwrap()
    else {
        panic!("a ticket");
    };
    let other = inbound(
        "lin@example.tw",
        "in2@example.tw",
        vec![file("x.txt", "text/plain", b"x")],
    );
    let InboundOutcome::Ticket {
        ticket_id: other_id,
        ..
    } = t.app.receive_email("webhook", other.as_bytes()).unwrap()
    else {
        panic!("a ticket");
    };
    t.app.run_pending_jobs().unwrap();
    let stored = t.app.ticket_attachments(ticket_id).unwrap();
    let ids: Vec<i64> = stored.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 2);
    let foreign = t.app.ticket_attachments(other_id).unwrap()[0].id;

    let agent = TestApp::principal(domain::access::Role::Agent);
    let message = |from: &str| app::desk::MessageInput {
        from: from.to_owned(),
        body: "已收到，退貨單附件請查收。".to_owned(),
        ack_only: false,
    };
    let outgoing = |id: i64| {
        t.app
            .ticket_emails(id)
            .unwrap()
            .iter()
            .filter(|m| m.direction == "out")
            .count()
    };
    let before = outgoing(ticket_id);
    let refused = t
        .app
        .add_message_with_attachments(&agent, ticket_id, &message("agent"), &[ids[0], foreign])
        .unwrap_err();
    assert!(
        matches!(refused, app::AppError::Invalid(ref e) if e.field == "attachment_ids[1]"),
        "{refused:?}"
    );
    let customer = t
        .app
        .add_message_with_attachments(&agent, ticket_id, &message("customer"), &[ids[0]])
        .unwrap_err();
    assert!(matches!(customer, app::AppError::Invalid(ref e) if e.field == "attachment_ids"));
    let web = t
        .app
        .open_ticket(
            &agent,
            &app::desk::TicketInput {
                channel: "web".to_owned(),
                body: "網站表單".to_owned(),
                opened_by: Some("agent".to_owned()),
                ..Default::default()
            },
        )
        .unwrap()
        .ticket
        .id;
    let not_email = t
        .app
        .add_message_with_attachments(&agent, web, &message("agent"), &[ids[0]])
        .unwrap_err();
    assert!(matches!(not_email, app::AppError::Invalid(ref e) if e.field == "attachment_ids"));
    assert_eq!(outgoing(ticket_id), before, "a refusal queues nothing");

    t.app
        .add_message_with_attachments(&agent, ticket_id, &message("agent"), &[ids[1], ids[0]])
        .unwrap();
    t.app.run_pending_jobs().unwrap();
    let to_ming: Vec<_> = smtpd
        .received()
        .into_iter()
        .filter(|m| m.header("to") == Some("ming@example.tw"))
        .collect();
    // The acknowledgement (and the FAQ answer a return question gets) are automatic and
    // carry no file; the agent's answer, last, is not automatic and carries both.
    let (answer, automatic) = to_ming.split_last().unwrap();
    assert!(!automatic.is_empty(), "the acknowledgement went out");
    for m in automatic {
        assert_eq!(m.header("auto-submitted"), Some("auto-replied"));
        assert_eq!(m.header("x-auto-response-suppress"), Some("All"));
        assert!(m.attachments.is_empty());
    }
    assert_eq!(answer.header("auto-submitted"), None);
    assert_eq!(answer.header("x-auto-response-suppress"), None);
    assert_eq!(answer.text, "已收到，退貨單附件請查收。");
    assert_eq!(answer.attachments.len(), 2, "in the order chosen");
    assert_eq!(
        answer.attachments[0].filename.as_deref(),
        Some("破損照片.png")
    );
    assert_eq!(answer.attachments[0].content_type, "image/png");
    assert_eq!(answer.attachments[0].data, photo);
    assert_eq!(
        answer.attachments[1].filename.as_deref(),
        Some("退貨申請單（已簽名）.pdf")
    );
    assert_eq!(answer.attachments[1].content_type, "application/pdf");
    assert_eq!(answer.attachments[1].data, pdf);
}

/// An e-mail with a question the FAQ answers gets the acknowledgement and the answer by
/// e-mail, both marked as automatic replies; the answer never counts as the first response.
fn faq_answer_goes_out_by_email(backend: Backend) {
    let Some(smtpd) = Smtpd::start() else {
        return;
    };
    let Some(t) = app_with(backend, None, Some(smtpd.settings())) else {
        return;
    };
    let raw = "From: ming@example.tw\r\nSubject: =?UTF-8?B?5a+G56K8?=\r\n\
               Message-ID: <faq1@example.tw>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
               忘記密碼怎麼辦\r\n";
    let InboundOutcome::Ticket { ticket_id, .. } =
        t.app.receive_email("webhook", raw.as_bytes()).unwrap()
    else {
        panic!("a ticket");
    };
    t.app.run_pending_jobs().unwrap();
    let received = smtpd.received();
    assert_eq!(received.len(), 2, "acknowledgement and FAQ answer");
    for m in &received {
        assert_eq!(m.header("to"), Some("ming@example.tw"));
        assert_eq!(m.header("auto-submitted"), Some("auto-replied"));
        assert_eq!(m.header("x-auto-response-suppress"), Some("All"));
        assert_eq!(m.in_reply_to, ["faq1@example.tw"]);
    }
    assert!(
        received[1].text.contains(app::DEFAULT_PASSWORD_RESET_URL),
        "{}",
        received[1].text
    );
    let view = t.app.ticket(ticket_id).unwrap();
    let first_response = view
        .sla
        .unwrap()
        .clocks
        .into_iter()
        .find(|c| c.clock.as_str() == "first_response")
        .unwrap();
    assert_eq!(first_response.state, "running");
}

#[test]
fn faq_answer_goes_out_by_email_sqlite() {
    faq_answer_goes_out_by_email(Backend::Sqlite);
}

#[test]
fn faq_answer_goes_out_by_email_postgres() {
    faq_answer_goes_out_by_email(Backend::Postgres);
}

#[test]
fn agent_reply_carries_attachments_sqlite() {
    agent_reply_carries_attachments(Backend::Sqlite);
}

#[test]
fn agent_reply_carries_attachments_postgres() {
    agent_reply_carries_attachments(Backend::Postgres);
}

/// IMAP and SMTP over TLS against servers that require it: Dovecot with `ssl = required`
/// (STARTTLS and IMAPS) and aiosmtpd (STARTTLS required, and SMTPS), their certificate from
/// a CA made by the `openssl` CLI for this test. With the CA configured the mail flows; with
/// the built-in roots only, the handshake fails naming the certificate and nothing is read,
/// sent or stored.
fn mail_over_tls(backend: Backend) {
    let certs = TestCerts::make();
    let (Some(dovecot), Some(smtpd), Some(smtps)) = (
        Dovecot::start_with(Some(&certs)),
        Smtpd::start_with(Some(("starttls", &certs))),
        Smtpd::start_with(Some(("implicit", &certs))),
    ) else {
        return;
    };
    let with_ca = |mode: TlsMode| TlsSettings {
        mode,
        ca_file: Some(certs.ca()),
    };
    let imap = |port: u16, tls: TlsSettings| ImapSettings {
        port,
        tls,
        ..dovecot.settings()
    };
    let smtp = |s: &Smtpd, tls: TlsSettings| SmtpSettings {
        tls,
        ..s.settings()
    };
    let mail = |n: u32| {
        format!(
            "From: ming@example.tw\r\nSubject: tls {n}\r\nMessage-ID: <tls{n}@example.tw>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n第 {n} 封信\r\n"
        )
    };
    dovecot.deliver(mail(1).as_bytes());
    let mut session = Client::open("127.0.0.1", dovecot.port, &with_ca(TlsMode::StartTls)).unwrap();
    assert!(session.is_tls());
    session.login(IMAP_USER, IMAP_PASSWORD).unwrap();

    // Servers without TLS: a mailbox configured for STARTTLS stops there — no login, no mail.
    let (Some(plain_imap), Some(plain_smtp)) = (Dovecot::start(), Smtpd::start()) else {
        return;
    };
    let e = Client::open("127.0.0.1", plain_imap.port, &with_ca(TlsMode::StartTls))
        .err()
        .expect("STARTTLS refused");
    assert!(e.to_string().contains("STARTTLS"), "{e}");
    let Some(t) = app_with(
        backend,
        None,
        Some(smtp(&plain_smtp, with_ca(TlsMode::StartTls))),
    ) else {
        return;
    };
    t.app.receive_email("webhook", mail(8).as_bytes()).unwrap();
    let run = t.app.run_pending_jobs().unwrap();
    assert_eq!(run.retried, 1, "{run:?}");
    assert!(
        plain_smtp.received().is_empty(),
        "nothing sent in plaintext"
    );

    // Without the CA: the web roots do not vouch for this server; nothing is fetched or sent.
    let Some(t) = app_with(
        backend,
        Some(imap(
            dovecot.port,
            TlsSettings {
                mode: TlsMode::StartTls,
                ca_file: None,
            },
        )),
        Some(smtp(
            &smtpd,
            TlsSettings {
                mode: TlsMode::StartTls,
                ca_file: None,
            },
        )),
    ) else {
        return;
    };
    let e = t
        .app
        .fetch_mail(&t.app.settings.email.imap.clone().unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    let e = t
        .app
        .fetch_mail(&imap(
            dovecot.imaps_port,
            TlsSettings {
                mode: TlsMode::Implicit,
                ca_file: None,
            },
        ))
        .unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    assert_eq!(ticket_count(&t), 0);
    t.app.receive_email("webhook", mail(9).as_bytes()).unwrap();
    let run = t.app.run_pending_jobs().unwrap();
    assert_eq!(run.retried, 1, "the acknowledgement waits: {run:?}");
    assert!(smtpd.received().is_empty());

    // With the CA: STARTTLS fetch, acknowledgement over STARTTLS.
    let Some(t) = app_with(
        backend,
        Some(imap(dovecot.port, with_ca(TlsMode::StartTls))),
        Some(smtp(&smtpd, with_ca(TlsMode::StartTls))),
    ) else {
        return;
    };
    let fetched = t
        .app
        .fetch_mail(&t.app.settings.email.imap.clone().unwrap())
        .unwrap();
    assert_eq!((fetched.fetched, fetched.tickets), (1, 1));
    t.app.run_pending_jobs().unwrap();
    let received = smtpd.received();
    assert_eq!(received.len(), 1, "the acknowledgement over STARTTLS");
    assert_eq!(received[0].header("to"), Some("ming@example.tw"));
    // Implicit TLS: IMAPS finds the next message, SMTPS sends its acknowledgement.
    dovecot.deliver(mail(2).as_bytes());
    let imaps = imap(dovecot.imaps_port, with_ca(TlsMode::Implicit));
    let fetched = t.app.fetch_mail(&imaps).unwrap();
    assert_eq!((fetched.fetched, fetched.tickets), (1, 1));
    let Some(t2) = app_with(
        backend,
        None,
        Some(smtp(&smtps, with_ca(TlsMode::Implicit))),
    ) else {
        return;
    };
    t2.app.receive_email("webhook", mail(3).as_bytes()).unwrap();
    t2.app.run_pending_jobs().unwrap();
    assert_eq!(smtps.received().len(), 1, "the acknowledgement over SMTPS");
}

#[test]
fn mail_over_tls_sqlite() {
    mail_over_tls(Backend::Sqlite);
}

#[test]
fn mail_over_tls_postgres() {
    mail_over_tls(Backend::Postgres);
}

#[test]
fn smtp_failures_rate_limit_and_agent_reply_sqlite() {
    smtp_failures_rate_limit_and_agent_reply(Backend::Sqlite);
}

#[test]
fn smtp_failures_rate_limit_and_agent_reply_postgres() {
    smtp_failures_rate_limit_and_agent_reply(Backend::Postgres);
}

both_backends!(loop_protection_records_and_ignores, |t: &TestApp| {
    let cases = [
        (
            "From: a@example.tw\r\nAuto-Submitted: auto-replied\r\n",
            IgnoreReason::AutoSubmitted,
        ),
        (
            "From: a@example.tw\r\nPrecedence: bulk\r\n",
            IgnoreReason::Precedence,
        ),
        (
            "From: a@example.tw\r\nX-Autoreply: yes\r\n",
            IgnoreReason::AutoReplyHeader,
        ),
        (
            "From: list@example.tw\r\nList-Id: <news.example.tw>\r\n",
            IgnoreReason::MailingList,
        ),
        (
            "From: MAILER-DAEMON@mx.example.tw\r\n",
            IgnoreReason::Bounce,
        ),
        (
            "From: a@example.tw\r\nReturn-Path: <>\r\n",
            IgnoreReason::Bounce,
        ),
        (
            "From: mx@example.tw\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n",
            IgnoreReason::Bounce,
        ),
    ];
    for (i, (headers, reason)) in cases.iter().enumerate() {
        let raw = format!(
            "{headers}Message-ID: <loop{i}@x>\r\nSubject: Out of office\r\n\r\n--r\r\n\r\naway\r\n--r--\r\n"
        );
        let outcome = t.app.receive_email("webhook", raw.as_bytes()).unwrap();
        assert_eq!(
            outcome,
            InboundOutcome::Ignored { reason: *reason },
            "{headers}"
        );
    }
    assert_eq!(ticket_count(t), 0);
    let ignored = t.app.ignored_emails(100).unwrap();
    assert_eq!(ignored.len(), cases.len());
    assert!(
        ignored
            .iter()
            .all(|r| r.reason.is_some() && r.ticket_id.is_none())
    );
    assert_eq!(
        t.app.run_pending_jobs().unwrap().done,
        0,
        "no reply to anything"
    );

    // Our own acknowledgement coming back (a misconfigured forward) is ignored too.
    let InboundOutcome::Ticket { ticket_id, .. } = t
        .app
        .receive_email(
            "webhook",
            b"From: amy@example.tw\r\nMessage-ID: <a1@x>\r\n\r\nhi",
        )
        .unwrap()
    else {
        panic!("a ticket")
    };
    let ours = t.app.ticket_emails(ticket_id).unwrap();
    let out = ours.iter().find(|m| m.direction == "out").unwrap();
    let back = format!(
        "From: desk@shop.example.tw\r\nMessage-ID: <{}>\r\n\r\nack",
        out.message_id
    );
    assert_eq!(
        t.app.receive_email("imap", back.as_bytes()).unwrap(),
        InboundOutcome::Ignored {
            reason: IgnoreReason::OwnMessage
        }
    );
    assert_eq!(ticket_count(t), 1);
});

both_backends!(same_message_id_stored_once, |t: &TestApp| {
    let raw = b"From: amy@example.tw\r\nMessage-ID: <dup@x>\r\nSubject: hi\r\n\r\nhello";
    let first = t.app.receive_email("imap", raw).unwrap();
    let InboundOutcome::Ticket {
        ticket_id,
        opened: true,
        ..
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(
        t.app.receive_email("webhook", raw).unwrap(),
        InboundOutcome::Duplicate {
            ticket_id: Some(ticket_id)
        }
    );
    // Without a Message-ID the same bytes are still recognised.
    let bare = b"From: bob@example.tw\r\n\r\nno id";
    assert!(matches!(
        t.app.receive_email("imap", bare).unwrap(),
        InboundOutcome::Ticket { .. }
    ));
    assert!(matches!(
        t.app.receive_email("imap", bare).unwrap(),
        InboundOutcome::Duplicate { .. }
    ));
    assert_eq!(ticket_count(t), 2);
    assert_eq!(customer_bodies(t, ticket_id), ["hello"]);
});

both_backends!(
    threading_by_subject_reference_and_references,
    |t: &TestApp| {
        let InboundOutcome::Ticket {
            ticket_id,
            reference,
            ..
        } = t
            .app
            .receive_email(
                "webhook",
                b"From: amy@example.tw\r\nMessage-ID: <t1@x>\r\nSubject: box\r\n\r\nfirst",
            )
            .unwrap()
        else {
            panic!("a ticket")
        };
        // By References (an older message of the thread).
        let by_refs = "From: amy@example.tw\r\nMessage-ID: <t2@x>\r\nReferences: <unknown@y> <t1@x>\r\n\r\nsecond";
        assert!(matches!(
            t.app.receive_email("webhook", by_refs.as_bytes()).unwrap(),
            InboundOutcome::Ticket { opened: false, .. }
        ));
        // By the reference in the subject, from the same customer.
        let by_subject = format!(
            "From: amy@example.tw\r\nMessage-ID: <t3@x>\r\nSubject: Re: [{reference}] box\r\n\r\nthird"
        );
        assert!(matches!(
            t.app
                .receive_email("webhook", by_subject.as_bytes())
                .unwrap(),
            InboundOutcome::Ticket { opened: false, .. }
        ));
        assert_eq!(customer_bodies(t, ticket_id), ["first", "second", "third"]);
        // Someone else answering in the thread, or quoting the reference, gets a ticket of
        // their own.
        let cross =
            "From: eve@example.tw\r\nMessage-ID: <t5@x>\r\nIn-Reply-To: <t1@x>\r\n\r\nhijack";
        assert!(matches!(
            t.app.receive_email("webhook", cross.as_bytes()).unwrap(),
            InboundOutcome::Ticket { opened: true, .. }
        ));
        let stranger = format!(
            "From: eve@example.tw\r\nMessage-ID: <t4@x>\r\nSubject: [{reference}]\r\n\r\nmine"
        );
        assert!(matches!(
            t.app.receive_email("webhook", stranger.as_bytes()).unwrap(),
            InboundOutcome::Ticket { opened: true, .. }
        ));
    }
);

both_backends!(malformed_mime_is_kept_raw, |t: &TestApp| {
    let bad: &[&[u8]] = &[
        b"",
        b"\x00\xff not headers at all",
        b"Subject: no sender\r\n\r\nbody",
        b"From: a@b.tw\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
        b"From: a@b.tw\r\nContent-Type: text/plain; charset=x-unknown-7\r\n\r\nbody",
    ];
    for raw in bad {
        let outcome = t.app.receive_email("webhook", raw).unwrap();
        assert!(
            matches!(outcome, InboundOutcome::Quarantined { .. }),
            "{outcome:?}"
        );
    }
    let listed = t.app.quarantined_emails(0, 100).unwrap();
    assert_eq!(listed.len(), bad.len());
    for (q, raw) in listed.iter().zip(bad) {
        assert_eq!(&t.app.quarantined_email_raw(q.id).unwrap(), raw);
        assert!(!q.error.is_empty());
    }
    assert_eq!(ticket_count(t), 0);
});

both_backends!(
    oversized_attachment_is_refused_and_the_message_kept,
    |t: &TestApp| {
        use base64::Engine;
        let big = vec![7u8; EMAIL_ATTACHMENT_BYTES_MAX + 1];
        let encoded = base64::engine::general_purpose::STANDARD.encode(&big);
        let raw = format!(
            "From: amy@example.tw\r\nMessage-ID: <big@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nphotos attached\r\n\
         --b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=huge.jpg\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n\
         --b\r\nContent-Type: application/pdf; name=receipt.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
        );
        let InboundOutcome::Ticket { ticket_id, .. } =
            t.app.receive_email("webhook", raw.as_bytes()).unwrap()
        else {
            panic!("the message is kept")
        };
        assert_eq!(customer_bodies(t, ticket_id), ["photos attached"]);
        let files = t.app.ticket_attachments(ticket_id).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].filename.as_deref(), Some("huge.jpg"));
        assert!(!files[0].stored);
        assert!(
            files[0]
                .refused_reason
                .as_deref()
                .unwrap()
                .contains("limit per file")
        );
        assert!(matches!(
            t.app.ticket_attachment(ticket_id, files[0].id),
            Err(app::AppError::NotFound)
        ));
        assert!(files[1].stored);
        let (view, data) = t.app.ticket_attachment(ticket_id, files[1].id).unwrap();
        assert_eq!(
            (view.filename.as_deref(), data.as_slice()),
            (Some("receipt.pdf"), &b"%PDF-"[..])
        );
    }
);

const PIECES: &[&[u8]] = &[
    b"\r\n",
    b"--b",
    b"=?",
    b"?=",
    b"{",
    b"<",
    b"=",
    b"\r\n\r\n",
    b"\xff",
    b"=?utf-8?b?",
    b"\r\n ",
];

/// Arbitrary and mutated bytes never panic the MIME reader (seeded, reproducible).
#[test]
fn mime_parser_never_panics_on_arbitrary_or_mutated_input() {
    let seeds: &[&[u8]] = &[
        b"From: =?UTF-8?B?546L?= <a@b.tw>\r\nSubject: =?big5?Q?=A5=5E?=\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html; charset=gbk\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=CD=CB&amp;</p>\r\n--b\r\nContent-Disposition: attachment; filename*=utf-8''%E7.png\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n",
        b"From: a@b\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/related; boundary=y\r\n\r\n--y\r\n\r\ntext\r\n--y--\r\n--x--",
        b"From a@b Mon\r\nFrom: a@b\r\n References: <x>\r\n\tIn-Reply-To: <\r\n\r\n=?x?B?===?= &#xFFFFFF; &#99999999999;",
    ];
    let mut rng = Rng::seeded(6);
    for i in 0..4000 {
        let mut input: Vec<u8> = if i % 4 == 0 {
            (0..rng.below(300)).map(|_| rng.below(256) as u8).collect()
        } else {
            rng.pick(seeds).to_vec()
        };
        for _ in 0..rng.below(12) {
            if input.is_empty() {
                break;
            }
            let at = rng.below(input.len() as u64) as usize;
            match rng.below(4) {
                0 => input[at] = rng.below(256) as u8,
                1 => {
                    input.remove(at);
                }
                2 => {
                    let piece = PIECES[rng.below(PIECES.len() as u64) as usize];
                    input.splice(at..at, piece.iter().copied());
                }
                _ => input.truncate(at),
            }
        }
        let _ = std::panic::catch_unwind(|| parse_message(&input))
            .unwrap_or_else(|_| panic!("seed 6, case {i}: panicked on {input:?}"));
    }
}

both_backends!(message_events_name_their_attachments, |t: &TestApp| {
    use base64::Engine;
    // The first message carries a PDF and a file over the per-file limit (refused: its
    // bytes are not kept, yet the message still names it).
    let big = vec![7u8; EMAIL_ATTACHMENT_BYTES_MAX + 1];
    let encoded = base64::engine::general_purpose::STANDARD.encode(&big);
    let first = format!(
        "From: ming@example.tw\r\nMessage-ID: <att1@example.tw>\r\nSubject: =?UTF-8?B?6YCA6LKo?=\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n附上退貨單\r\n\
             --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''%E9%80%80%E8%B2%A8%E5%96%AE.pdf\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n\
             --b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=huge.jpg\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
    );
    let InboundOutcome::Ticket { ticket_id, .. } =
        t.app.receive_email("webhook", first.as_bytes()).unwrap()
    else {
        panic!("a ticket");
    };
    // The customer's answer in the same thread carries one more file.
    let second = "From: ming@example.tw\r\nMessage-ID: <att2@example.tw>\r\n\
             In-Reply-To: <att1@example.tw>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n還有照片\r\n\
             --b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=photo.png\r\n\
             Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n";
    let InboundOutcome::Ticket {
        ticket_id: same, ..
    } = t.app.receive_email("webhook", second.as_bytes()).unwrap()
    else {
        panic!("the same ticket");
    };
    assert_eq!(same, ticket_id);
    let files = t.app.ticket_attachments(ticket_id).unwrap();
    assert_eq!(files.len(), 3);
    let (pdf, huge, photo) = (&files[0], &files[1], &files[2]);
    assert_eq!(pdf.filename.as_deref(), Some("退貨單.pdf"));
    assert!(!huge.stored);

    // An agent's reply sends two stored files, photo first.
    let agent = TestApp::principal(domain::access::Role::Agent);
    t.app
        .add_message_with_attachments(
            &agent,
            ticket_id,
            &app::desk::MessageInput {
                from: "agent".to_owned(),
                body: "已收到，請查收附件。".to_owned(),
                ack_only: false,
            },
            &[photo.id, pdf.id],
        )
        .unwrap();

    let named = |a: &app::desk::MessageAttachmentView| {
        (
            a.attachment_id,
            a.filename.clone(),
            a.content_type.clone(),
            a.size_bytes,
            a.refused_reason.is_some(),
        )
    };
    let listed = |f: &app::email::AttachmentView| {
        (
            f.id,
            f.filename.clone(),
            f.content_type.clone(),
            f.size_bytes,
            !f.stored,
        )
    };
    let messages: Vec<_> = t
        .app
        .ticket(ticket_id)
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == "message")
        .map(|e| {
            (
                e.from.clone().unwrap(),
                e.attachments.iter().map(named).collect::<Vec<_>>(),
            )
        })
        .collect();
    let by = |who: &str| -> Vec<_> {
        messages
            .iter()
            .filter(|m| m.0 == who)
            .map(|m| m.1.clone())
            .collect()
    };
    assert_eq!(
        by("customer"),
        [vec![listed(pdf), listed(huge)], vec![listed(photo)]]
    );
    assert_eq!(by("agent"), [vec![listed(photo), listed(pdf)]]);
    // The automatic messages (the acknowledgement) carry nothing.
    assert!(messages.len() > 3, "{messages:?}");
    for (from, files) in &messages {
        if !matches!(from.as_str(), "customer" | "agent") {
            assert!(files.is_empty(), "{from}: {files:?}");
        }
    }
    let messages: Vec<_> = messages
        .into_iter()
        .filter(|m| matches!(m.0.as_str(), "customer" | "agent"))
        .collect();
    assert_eq!(
        messages[0].1[0],
        (
            pdf.id,
            Some("退貨單.pdf".to_owned()),
            "application/pdf".to_owned(),
            5,
            false
        )
    );
    assert_eq!(
        messages[0].1[1].3,
        i64::try_from(EMAIL_ATTACHMENT_BYTES_MAX + 1).unwrap()
    );
    assert!(messages[0].1[1].4, "the refused file is named as refused");

    // The same through the HTTP API's ticket log.
    let key = t
        .app
        .create_key(&app::Principal::cli(), domain::access::Role::Agent, "desk")
        .unwrap();
    let server = crate::http::Server::start(t.app.clone());
    let r = crate::http::get(&server.addr, &format!("/api/v1/tickets/{ticket_id}"), &key);
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    let logged: Vec<&serde_json::Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"] == "message" && matches!(e["from"].as_str(), Some("customer" | "agent"))
        })
        .collect();
    assert_eq!(logged.len(), 3);
    assert_eq!(
        logged[0]["attachments"],
        serde_json::json!([
            {"attachment_id": pdf.id, "filename": "退貨單.pdf", "content_type": "application/pdf",
             "size_bytes": 5, "refused_reason": null},
            {"attachment_id": huge.id, "filename": "huge.jpg", "content_type": "image/jpeg",
             "size_bytes": EMAIL_ATTACHMENT_BYTES_MAX + 1,
             "refused_reason": huge.refused_reason.clone()},
        ])
    );
    assert_eq!(logged[1]["attachments"][0]["attachment_id"], photo.id);
    let agent_files: Vec<i64> = logged[2]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attachment_id"].as_i64().unwrap())
        .collect();
    assert_eq!(agent_files, [photo.id, pdf.id]);
});

/// An inbound e-mail from ming@example.tw carrying one file; the ticket it landed on.
fn mail_with_file(t: &TestApp, id: &str, reply_to: Option<&str>, file: &str) -> i64 {
    let thread = reply_to.map_or(String::new(), |r| format!("In-Reply-To: <{r}>\r\n"));
    let raw = format!(
        "From: ming@example.tw\r\nMessage-ID: <{id}>\r\n{thread}Subject: order\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n附檔 {file}\r\n\
         --b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename={file}\r\n\
         Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"
    );
    match t.app.receive_email("webhook", raw.as_bytes()).unwrap() {
        InboundOutcome::Ticket { ticket_id, .. } => ticket_id,
        other => panic!("{other:?}"),
    }
}

both_backends!(split_and_merge_carry_attachments, |t: &TestApp| {
    let manager = TestApp::principal(domain::access::Role::Manager);
    let a = mail_with_file(t, "s1@example.tw", None, "receipt.png");
    assert_eq!(
        mail_with_file(t, "s2@example.tw", Some("s1@example.tw"), "box.png"),
        a
    );
    let files = |id: i64| -> Vec<String> {
        t.app
            .ticket_attachments(id)
            .unwrap()
            .into_iter()
            .map(|f| f.filename.unwrap())
            .collect()
    };
    let on_entries = |id: i64, kind: &str| -> Vec<Vec<String>> {
        t.app
            .ticket(id)
            .unwrap()
            .events
            .into_iter()
            .filter(|e| e.kind == kind && !e.attachments.is_empty())
            .map(|e| {
                e.attachments
                    .into_iter()
                    .map(|f| f.filename.unwrap())
                    .collect()
            })
            .collect()
    };
    assert_eq!(files(a), ["receipt.png", "box.png"]);
    let second = t
        .app
        .ticket(a)
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == "message" && e.from.as_deref() == Some("customer"))
        .nth(1)
        .unwrap()
        .id;

    // Split the second message off: its copy names box.png, which the new ticket lists and
    // serves; the original keeps both.
    let split = t
        .app
        .split_ticket(&manager, a, &[second], None)
        .unwrap()
        .ticket
        .id;
    assert_eq!(on_entries(split, "message"), [["box.png"]]);
    assert_eq!(files(split), ["box.png"]);
    let box_id = t.app.ticket_attachments(split).unwrap()[0].id;
    let (view, bytes) = t.app.ticket_attachment(split, box_id).unwrap();
    assert_eq!(
        (view.filename.as_deref(), bytes.as_slice()),
        (Some("box.png"), &b"hello"[..])
    );
    assert_eq!(files(a), ["receipt.png", "box.png"]);

    // A second conversation of the same customer, merged into the first: its file comes along
    // on the merged_from entry.
    let b = mail_with_file(t, "m1@example.tw", None, "label.png");
    assert_ne!(b, a);
    t.app.merge_tickets(&manager, a, b).unwrap();
    assert_eq!(on_entries(a, "merged_from"), [["label.png"]]);
    assert_eq!(files(a), ["receipt.png", "box.png", "label.png"]);
    let label_id = t.app.ticket_attachments(b).unwrap()[0].id;
    assert!(t.app.ticket_attachment(a, label_id).is_ok());

    // A ticket that never carried a file cannot serve it.
    assert!(matches!(
        t.app.ticket_attachment(split, label_id),
        Err(app::AppError::NotFound)
    ));
});
