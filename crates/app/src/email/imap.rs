//! A small IMAP4rev1 client (RFC 3501) over plain TCP, implicit TLS (IMAPS) or STARTTLS
//! ([`super::tls`]), for fetching the desk's mailbox: STARTTLS, LOGIN, SELECT (UIDVALIDITY),
//! UID SEARCH, UID FETCH BODY.PEEK[], UID STORE +FLAGS \Seen, APPEND (tests place mail with
//! it) and LOGOUT. Literals are handled both ways: a server
//! literal `{n}` is read as exactly n bytes wherever it appears in a response line, and a
//! string we send that cannot be quoted (CR, LF, 8-bit, very long) goes as a synchronising
//! literal after the server's `+` continuation. Credentials are never logged.

use super::tls::{self, Stream, TlsMode, TlsSettings};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// How long one read or write may wait.
pub const IMAP_IO_TIMEOUT_SECONDS: u64 = 30;
/// Longest response line read (outside literals), in bytes.
pub const IMAP_LINE_BYTES_MAX: usize = 64 * 1024;
/// Largest literal read, in bytes: a larger message is refused, not read into memory.
pub const IMAP_LITERAL_BYTES_MAX: usize = domain::email::EMAIL_MESSAGE_BYTES_MAX + 1024 * 1024;

#[derive(Clone, PartialEq, Eq)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub mailbox: String,
    /// `desk.imap.tls` and `desk.imap.ca_file`.
    pub tls: TlsSettings,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("mailbox", &self.mailbox)
            .field("tls", &self.tls.mode)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("IMAP server refused {command}: {text}")]
    Refused { command: &'static str, text: String },
    #[error("IMAP protocol: {0}")]
    Protocol(String),
}

/// One response line with its literals (the line's text has `{n}` where each was).
#[derive(Debug, Default)]
pub struct Line {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

/// A string argument to a command.
enum Arg<'a> {
    Atom(&'a str),
    Str(&'a [u8]),
}

/// An open, logged-in (after [`Client::login`]) session.
pub struct Client {
    /// Reads through the buffer; writes go to the stream underneath (`get_mut`).
    reader: BufReader<Stream>,
    tag: u32,
}

/// What SELECT told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub uid_validity: i64,
    pub exists: i64,
}

fn literal_length(text: &str) -> Option<usize> {
    let inner = text.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].trim_end_matches('+').parse().ok()
}

fn quotable(s: &[u8]) -> bool {
    s.len() <= 1000 && s.iter().all(|&b| (0x20..0x7f).contains(&b))
}

impl Client {
    /// A plain connection (tests, a local server).
    pub fn connect(host: &str, port: u16) -> Result<Client, ImapError> {
        Client::open(host, port, &TlsSettings::default())
    }

    /// A connection protected as `tls` says: TLS from the start, or upgraded by STARTTLS
    /// right after the greeting (refused: an error, never a plaintext login).
    pub fn open(host: &str, port: u16, tls: &TlsSettings) -> Result<Client, ImapError> {
        let timeout = Duration::from_secs(IMAP_IO_TIMEOUT_SECONDS);
        let stream = tls::connect(host, port, tls, timeout)?;
        let mut c = Client {
            reader: BufReader::new(stream),
            tag: 0,
        };
        let greeting = c.read_line()?;
        if !greeting.text.starts_with("* OK") && !greeting.text.starts_with("* PREAUTH") {
            return Err(ImapError::Protocol(
                "the server did not greet with OK".into(),
            ));
        }
        if tls.mode == TlsMode::StartTls {
            c.run("STARTTLS", &[])?;
            // Bytes the server sent after its OK would be read as if protected: refuse.
            if !c.reader.buffer().is_empty() {
                return Err(ImapError::Protocol(
                    "the server sent data after STARTTLS before the handshake".into(),
                ));
            }
            let Client { reader, tag } = c;
            let stream = reader
                .into_inner()
                .start_tls(host, tls.ca_file.as_deref())?;
            c = Client {
                reader: BufReader::new(stream),
                tag,
            };
        }
        Ok(c)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ImapError> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()?;
        Ok(())
    }

    /// Whether the session is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }

    fn read_raw_line(&mut self) -> Result<String, ImapError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(IMAP_LINE_BYTES_MAX as u64)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(ImapError::Protocol(
                "the server closed the connection".into(),
            ));
        }
        if !buf.ends_with(b"\n") {
            return Err(ImapError::Protocol("a response line too long".into()));
        }
        buf.truncate(buf.len() - 1);
        if buf.ends_with(b"\r") {
            buf.truncate(buf.len() - 1);
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// One response line, reading each literal it announces and the rest of the line after.
    pub fn read_line(&mut self) -> Result<Line, ImapError> {
        let mut line = Line::default();
        loop {
            let part = self.read_raw_line()?;
            line.text.push_str(&part);
            let Some(n) = literal_length(&part) else {
                return Ok(line);
            };
            if n > IMAP_LITERAL_BYTES_MAX {
                return Err(ImapError::Protocol(format!(
                    "a literal of {n} bytes is over the {IMAP_LITERAL_BYTES_MAX}-byte limit"
                )));
            }
            let mut data = vec![0u8; n];
            self.reader.read_exact(&mut data)?;
            line.literals.push(data);
        }
    }

    /// Sends a tagged command (literals synchronised) and reads up to its completion:
    /// the untagged lines, or `Refused` on NO / BAD.
    fn run(&mut self, command: &'static str, args: &[Arg<'_>]) -> Result<Vec<Line>, ImapError> {
        self.tag += 1;
        let tag = format!("p{}", self.tag);
        let mut pending = format!("{tag} {command}").into_bytes();
        let mut untagged = Vec::new();
        for a in args {
            pending.push(b' ');
            match a {
                Arg::Atom(s) => pending.extend_from_slice(s.as_bytes()),
                Arg::Str(s) if quotable(s) => {
                    pending.push(b'"');
                    for &b in *s {
                        if b == b'"' || b == b'\\' {
                            pending.push(b'\\');
                        }
                        pending.push(b);
                    }
                    pending.push(b'"');
                }
                Arg::Str(s) => {
                    pending.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
                    self.write(&pending)?;
                    pending.clear();
                    loop {
                        let l = self.read_line()?;
                        if l.text.starts_with('+') {
                            break;
                        }
                        if l.text.starts_with(&format!("{tag} ")) {
                            return Err(ImapError::Refused {
                                command,
                                text: l.text,
                            });
                        }
                        untagged.push(l);
                    }
                    pending.extend_from_slice(s);
                }
            }
        }
        pending.extend_from_slice(b"\r\n");
        self.write(&pending)?;
        loop {
            let l = self.read_line()?;
            if let Some(rest) = l.text.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    return Ok(untagged);
                }
                return Err(ImapError::Refused {
                    command,
                    text: rest.chars().take(200).collect(),
                });
            }
            untagged.push(l);
        }
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<(), ImapError> {
        self.run(
            "LOGIN",
            &[Arg::Str(user.as_bytes()), Arg::Str(password.as_bytes())],
        )?;
        Ok(())
    }

    pub fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        let lines = self.run("SELECT", &[Arg::Str(mailbox.as_bytes())])?;
        let mut selected = Selected {
            uid_validity: -1,
            exists: 0,
        };
        for l in &lines {
            if let Some(i) = l.text.find("[UIDVALIDITY ") {
                let rest = &l.text[i + 13..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                selected.uid_validity = digits.parse().unwrap_or(-1);
            }
            let words: Vec<&str> = l.text.split_whitespace().collect();
            if let ["*", n, "EXISTS"] = words.as_slice() {
                selected.exists = n.parse().unwrap_or(0);
            }
        }
        if selected.uid_validity < 0 {
            return Err(ImapError::Protocol("SELECT gave no UIDVALIDITY".into()));
        }
        Ok(selected)
    }

    /// UIDs greater than `after`, ascending. (`n:*` also matches the highest UID when it is
    /// below n, so the answer is filtered.)
    pub fn uids_after(&mut self, after: i64) -> Result<Vec<i64>, ImapError> {
        let range = format!("{}:*", after + 1);
        let lines = self.run("UID SEARCH", &[Arg::Atom("UID"), Arg::Atom(&range)])?;
        let mut uids: Vec<i64> = lines
            .iter()
            .filter_map(|l| l.text.strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().filter_map(|u| u.parse().ok()))
            .filter(|u| *u > after)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// The size in bytes of a UID's message; `None` when it no longer exists.
    pub fn size(&mut self, uid: i64) -> Result<Option<i64>, ImapError> {
        let lines = self.run(
            "UID FETCH",
            &[Arg::Atom(&uid.to_string()), Arg::Atom("RFC822.SIZE")],
        )?;
        Ok(lines.iter().find_map(|l| {
            let i = l.text.find("RFC822.SIZE ")?;
            let digits: String = l.text[i + 12..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        }))
    }

    /// The raw message of a UID without setting `\Seen`; `None` when it no longer exists.
    pub fn fetch(&mut self, uid: i64) -> Result<Option<Vec<u8>>, ImapError> {
        let lines = self.run(
            "UID FETCH",
            &[Arg::Atom(&uid.to_string()), Arg::Atom("BODY.PEEK[]")],
        )?;
        for mut l in lines {
            if !l.text.starts_with('*') || !l.text.contains("FETCH") {
                continue;
            }
            if let Some(body) = l.literals.pop() {
                return Ok(Some(body));
            }
            // A server may send a small body as a quoted string.
            if let Some(i) = l.text.find("BODY[] \"") {
                let rest = &l.text[i + 8..];
                let end = rest.rfind('"').unwrap_or(rest.len());
                return Ok(Some(rest[..end].replace("\\\"", "\"").into_bytes()));
            }
        }
        Ok(None)
    }

    pub fn mark_seen(&mut self, uid: i64) -> Result<(), ImapError> {
        self.run(
            "UID STORE",
            &[
                Arg::Atom(&uid.to_string()),
                Arg::Atom("+FLAGS.SILENT"),
                Arg::Atom("(\\Seen)"),
            ],
        )?;
        Ok(())
    }

    /// Places a message in a mailbox (always as a literal).
    pub fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<(), ImapError> {
        // An empty or quotable message still goes as a literal: force it with a CR.
        let forced;
        let body = if quotable(message) {
            forced = [message, b"\r\n"].concat();
            forced.as_slice()
        } else {
            message
        };
        self.run("APPEND", &[Arg::Str(mailbox.as_bytes()), Arg::Str(body)])?;
        Ok(())
    }

    pub fn logout(mut self) -> Result<(), ImapError> {
        self.run("LOGOUT", &[])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn literal_lengths() {
        assert_eq!(
            super::literal_length("* 1 FETCH (UID 4 BODY[] {123}"),
            Some(123)
        );
        assert_eq!(super::literal_length("a {5+}"), Some(5));
        assert_eq!(super::literal_length("* OK done"), None);
    }
}
