//! A small SMTP client (RFC 5321) over plain TCP, implicit TLS (SMTPS) or STARTTLS
//! (RFC 3207, [`super::tls`]): EHLO, STARTTLS and EHLO again, AUTH PLAIN when credentials
//! are configured, MAIL FROM, RCPT TO, DATA with dot-stuffing, QUIT. A server configured for
//! TLS that refuses STARTTLS gets no credentials and no message. A 4xx reply or an IO error
//! is transient (the job retries with backoff); a 5xx reply is permanent (dead-lettered).
//! Credentials and message contents are never logged.

use super::tls::{self, Stream, TlsMode, TlsSettings};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// How long one read or write may wait.
pub const SMTP_IO_TIMEOUT_SECONDS: u64 = 30;
/// Longest reply line read, in bytes.
const SMTP_REPLY_LINE_BYTES_MAX: usize = 4096;

/// Where and as whom to send.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// AUTH PLAIN when set.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The envelope and header sender (`desk@shop.tw`).
    pub from: String,
    /// `desk.smtp.tls` and `desk.smtp.ca_file`.
    pub tls: TlsSettings,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.user.is_some())
            .field("tls", &self.tls.mode)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    /// 4xx or a network failure: try again later.
    #[error("transient SMTP failure: {0}")]
    Transient(String),
    /// 5xx: the server refuses for good.
    #[error("SMTP refused: {0}")]
    Permanent(String),
}

fn io(e: std::io::Error) -> SmtpError {
    SmtpError::Transient(e.to_string())
}

struct Conn {
    /// Reads through the buffer; writes go to the stream underneath (`get_mut`).
    reader: BufReader<Stream>,
}

impl Conn {
    /// Reads one (possibly multi-line) reply: its code and last line's text.
    fn reply(&mut self) -> Result<(u16, String), SmtpError> {
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader)
                .take(SMTP_REPLY_LINE_BYTES_MAX as u64)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            if n == 0 {
                return Err(SmtpError::Transient(
                    "the server closed the connection".into(),
                ));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            let code = text
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| SmtpError::Transient("a reply without a code".into()))?;
            if text.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
    }

    fn expect(&mut self, ok: &[u16]) -> Result<String, SmtpError> {
        let (code, text) = self.reply()?;
        if ok.contains(&code) {
            Ok(text)
        } else if (500..600).contains(&code) {
            Err(SmtpError::Permanent(text))
        } else {
            Err(SmtpError::Transient(text))
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SmtpError> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes).map_err(io)?;
        stream.flush().map_err(io)
    }

    fn command(&mut self, line: &str, ok: &[u16]) -> Result<String, SmtpError> {
        self.write(format!("{line}\r\n").as_bytes())?;
        self.expect(ok)
    }

    /// STARTTLS (RFC 3207): the server's 220, then the handshake. Anything else ends the
    /// session before a credential or the message is sent.
    fn start_tls(self, host: &str, ca_file: Option<&std::path::Path>) -> Result<Conn, SmtpError> {
        let mut c = self;
        c.command("STARTTLS", &[220])
            .map_err(|e| SmtpError::Transient(format!("STARTTLS: {e}")))?;
        if !c.reader.buffer().is_empty() {
            return Err(SmtpError::Transient(
                "the server sent data after STARTTLS before the handshake".into(),
            ));
        }
        let stream = c.reader.into_inner().start_tls(host, ca_file).map_err(io)?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }
}

/// The message with CRLF line ends, each line starting with `.` doubled, and the final
/// `.` line.
pub fn dot_stuff(data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for line in data.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // `split` yields an empty last piece for a message ending in a line break.
    if data.ends_with('\n') {
        out.truncate(out.len() - 2);
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn valid_path(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 254
        && !address
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

/// Sends one message to one recipient.
pub fn send(s: &SmtpSettings, helo_name: &str, to: &str, data: &str) -> Result<(), SmtpError> {
    if !valid_path(to) || !valid_path(&s.from) {
        return Err(SmtpError::Permanent("invalid envelope address".into()));
    }
    let timeout = Duration::from_secs(SMTP_IO_TIMEOUT_SECONDS);
    let stream = tls::connect(&s.host, s.port, &s.tls, timeout).map_err(io)?;
    let mut c = Conn {
        reader: BufReader::new(stream),
    };
    c.expect(&[220])?;
    c.command(&format!("EHLO {helo_name}"), &[250])?;
    if s.tls.mode == TlsMode::StartTls {
        c = c.start_tls(&s.host, s.tls.ca_file.as_deref())?;
        c.command(&format!("EHLO {helo_name}"), &[250])?;
    }
    if let (Some(user), Some(password)) = (&s.user, &s.password) {
        let token = B64.encode(format!("\0{user}\0{password}"));
        c.command(&format!("AUTH PLAIN {token}"), &[235])?;
    }
    c.command(&format!("MAIL FROM:<{}>", s.from), &[250])?;
    c.command(&format!("RCPT TO:<{to}>"), &[250, 251])?;
    c.command("DATA", &[354])?;
    c.write(&dot_stuff(data))?;
    c.expect(&[250])?;
    // The message is accepted; a failed QUIT changes nothing.
    let _ = c.command("QUIT", &[221]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dot_stuff;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff("a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n.\r\n");
        assert_eq!(dot_stuff("a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
    }
}
