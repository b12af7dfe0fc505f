//! Canonical JSON bodies of intake requests, their hashes, and the field-by-field
//! difference between two bodies (what a 409 names).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// serde_json keeps object keys sorted (no `preserve_order`), so `to_string` is canonical.
pub(crate) fn body_and_hash(content: &Value) -> (String, Vec<u8>) {
    let body = content.to_string();
    let hash = Sha256::digest(body.as_bytes()).to_vec();
    (body, hash)
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
}
