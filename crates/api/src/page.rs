//! Cursor pagination: `?limit=&cursor=`, a page of at most [`crate::PAGE_SIZE_MAX`] items
//! and an opaque `next_cursor` (URL-safe base64 of a position) or `null` on the last page.

use crate::error::{ApiError, ErrorCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use utoipa::IntoParams;

/// The query of every list route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page, 1 to 100 (default 50).
    pub(crate) limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

impl PageQuery {
    pub(crate) fn limit(&self) -> Result<i64, ApiError> {
        let limit = self.limit.unwrap_or(crate::PAGE_SIZE_DEFAULT);
        if !(1..=crate::PAGE_SIZE_MAX).contains(&limit) {
            return Err(ApiError::with_detail(
                ErrorCode::InvalidQuery,
                format!("limit must be 1 to {}", crate::PAGE_SIZE_MAX),
            ));
        }
        Ok(i64::from(limit))
    }

    /// The position the cursor names, or `start` without a cursor. `tag` tells cursors of
    /// different lists apart, so one list's cursor is refused by another.
    pub(crate) fn position<const N: usize>(
        &self,
        tag: &str,
        start: [i64; N],
    ) -> Result<[i64; N], ApiError> {
        match &self.cursor {
            None => Ok(start),
            Some(c) => decode(tag, c).ok_or_else(|| {
                ApiError::with_detail(
                    ErrorCode::InvalidQuery,
                    "cursor is not a cursor of this list",
                )
            }),
        }
    }
}

pub(crate) fn encode<const N: usize>(tag: &str, position: [i64; N]) -> String {
    let parts: Vec<String> = position.iter().map(i64::to_string).collect();
    B64.encode(format!("{tag}:{}", parts.join(":")))
}

fn decode<const N: usize>(tag: &str, cursor: &str) -> Option<[i64; N]> {
    let text = String::from_utf8(B64.decode(cursor).ok()?).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != tag {
        return None;
    }
    let mut out = [0; N];
    for slot in &mut out {
        *slot = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let c = encode("s", [12, 3]);
        let q = PageQuery {
            limit: None,
            cursor: Some(c),
        };
        assert_eq!(q.position("s", [0, 0]).unwrap(), [12, 3]);
        assert!(q.position("c", [0, 0]).is_err());
        assert!(q.position::<1>("s", [0]).is_err());
        let bad = PageQuery {
            limit: Some(0),
            cursor: Some("%%%".to_owned()),
        };
        assert!(bad.position("s", [0, 0]).is_err());
        assert!(bad.limit().is_err());
        assert_eq!(PageQuery::default().limit().unwrap(), 50);
    }
}
