//! TLS for the mail clients ([`super::imap`], [`super::smtp`]), with `rustls` (ring) and
//! either the built-in web roots (`webpki-roots`, the same on every system) or the CA
//! certificates of a PEM file, for a shop's server with a self-signed or private CA.
//!
//! [`TlsMode::Implicit`] speaks TLS from the first byte (IMAPS 993, SMTPS 465);
//! [`TlsMode::StartTls`] upgrades the plain connection with `STARTTLS` before any credential
//! is sent, and refuses to continue if the server does not offer it or answers anything but
//! OK — a mailbox configured for TLS never falls back to plaintext. The handshake is
//! completed (and the certificate checked) before the first command, so a bad certificate is
//! an error naming it, not a hang.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest CA file read, in bytes.
pub const TLS_CA_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// How a mail connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain TCP (a local relay, tests).
    #[default]
    None,
    /// TLS from the first byte: IMAPS (993), SMTPS (465).
    Implicit,
    /// Plain TCP upgraded by `STARTTLS` before logging in; never continues without it.
    StartTls,
}

impl TlsMode {
    pub fn parse(s: &str) -> Option<TlsMode> {
        match s {
            "none" => Some(TlsMode::None),
            "implicit" => Some(TlsMode::Implicit),
            "starttls" => Some(TlsMode::StartTls),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Implicit => "implicit",
            TlsMode::StartTls => "starttls",
        }
    }
}

/// The TLS part of a mailbox's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// PEM CA certificates trusted instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
}

/// The client configuration: the web roots, or exactly the CA file's certificates.
pub fn client_config(ca_file: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let mut pem = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(TLS_CA_FILE_BYTES_MAX).read_to_end(&mut pem))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("CA file {}: {e}", path.display()))
                })?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(format!("CA file {}: {e}", path.display())))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(invalid(format!(
                    "CA file {}: no usable certificate",
                    path.display()
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A connection, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Whether the connection is protected.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Starts TLS on a plain connection and completes the handshake, so that a certificate
    /// the roots do not vouch for is an error here (`invalid peer certificate: …`).
    pub fn start_tls(self, host: &str, ca_file: Option<&Path>) -> io::Result<Stream> {
        let Stream::Plain(mut tcp) = self else {
            return Err(invalid("TLS is already on".to_owned()));
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| invalid(format!("TLS server name {host:?}: {e}")))?;
        let mut conn = ClientConnection::new(client_config(ca_file)?, name)
            .map_err(|e| invalid(format!("TLS: {e}")))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake: {e}")))?;
        }
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Opens a TCP connection with read and write timeouts, in TLS from the start for
/// [`TlsMode::Implicit`].
pub fn connect(
    host: &str,
    port: u16,
    tls: &TlsSettings,
    timeout: std::time::Duration,
) -> io::Result<Stream> {
    let tcp = TcpStream::connect((host, port))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let plain = Stream::Plain(tcp);
    match tls.mode {
        TlsMode::Implicit => plain.start_tls(host, tls.ca_file.as_deref()),
        TlsMode::None | TlsMode::StartTls => Ok(plain),
    }
}
