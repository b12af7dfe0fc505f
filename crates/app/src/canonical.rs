//! Canonical JSON bodies of intake requests, their hashes, and the field-by-field
//! difference between two bodies (what a 409 names).
//!
//! Canonical means serde_json's compact form of a `Value` with sorted object keys (serde_json
//! without `preserve_order`). Order bodies, written once per order on the hot path, are built
//! directly into a `String` by [`JsonWriter`] with the same bytes; a `Value` is parsed back
//! only when a conflict has to be explained.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// serde_json keeps object keys sorted (no `preserve_order`), so `to_string` is canonical.
pub(crate) fn body_and_hash(content: &Value) -> (String, Vec<u8>) {
    let body = content.to_string();
    let hash = hash(&body);
    (body, hash)
}

/// SHA-256 of a canonical body.
pub(crate) fn hash(body: &str) -> Vec<u8> {
    Sha256::digest(body.as_bytes()).to_vec()
}

/// Writes canonical JSON into a `String`, byte for byte what serde_json writes for the same
/// `Value`. The caller writes object keys in sorted order; nothing checks it but the tests.
pub(crate) struct JsonWriter {
    pub(crate) out: String,
}

impl JsonWriter {
    pub(crate) fn with_capacity(bytes: usize) -> JsonWriter {
        JsonWriter {
            out: String::with_capacity(bytes),
        }
    }

    /// `{` or `,` before the key, then `"key":`.
    pub(crate) fn key(&mut self, first: bool, key: &str) {
        self.out.push(if first { '{' } else { ',' });
        self.str(key);
        self.out.push(':');
    }

    pub(crate) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    pub(crate) fn int(&mut self, v: i64) {
        use std::fmt::Write;
        write!(self.out, "{v}").expect("writing to a String");
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.out.push_str("null"),
        }
    }

    /// A JSON string, escaped as serde_json escapes it: `"` `\` and control characters only,
    /// the common ones short (`\n`), the others as `\u00xx`.
    pub(crate) fn str(&mut self, s: &str) {
        self.out.push('"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &str = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..=0x1f => "",
                _ => continue,
            };
            self.out.push_str(&s[start..i]);
            if escape.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.out.push_str("\\u00");
                self.out.push(HEX[usize::from(b >> 4)] as char);
                self.out.push(HEX[usize::from(b & 0xf)] as char);
            } else {
                self.out.push_str(escape);
            }
            start = i + 1;
        }
        self.out.push_str(&s[start..]);
        self.out.push('"');
    }
}

/// Paths where `old` and `new` differ (`lines[0].quantity`, `occurred_at`), sorted.
pub(crate) fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(old, new, String::new(), &mut out);
    out.sort();
    out
}

fn walk(old: &Value, new: &Value, path: String, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    p,
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ if old != new => out.push(if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_the_paths() {
        let a = json!({"lines": [{"quantity": 1, "sku": "A"}], "currency": "TWD"});
        let b = json!({"lines": [{"quantity": 2, "sku": "A"}], "currency": "TWD", "x": 1});
        assert_eq!(differences(&a, &b), vec!["lines[0].quantity", "x"]);
        assert!(differences(&a, &a).is_empty());
        let c = json!({"lines": [], "currency": "TWD"});
        assert_eq!(differences(&a, &c), vec!["lines"]);
        assert_eq!(body_and_hash(&a).0, body_and_hash(&a.clone()).0);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é台灣\u{2028}\u{fffd}🍵");
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            &all,
        ] {
            let mut w = JsonWriter::with_capacity(0);
            w.str(s);
            assert_eq!(w.out, Value::from(s).to_string(), "{s:?}");
        }
    }
}
