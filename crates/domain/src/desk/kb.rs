//! Knowledge-base search that works on Traditional Chinese without word spaces: text is cut
//! into search terms — overlapping character bigrams of each CJK run, plus its single
//! characters (so 「退回」 still meets 「退貨」 on 「退」, weighted low by their document
//! frequency), and lower-cased words of letters and digits — stored as `(term, article)`
//! postings, and a question is ranked against them by summed inverse document frequency, so
//! 「退貨」 in a question finds an article about 「如何辦理退貨」 however the sentence around it
//! is worded. No dictionary and no segmentation: the generic CJK failure of other desks ("a
//! CJK run becomes one token", helpdesk.md §C.7) cannot happen. Full-width letters and digits
//! are folded to ASCII first.

use crate::FieldError;
use std::collections::{BTreeMap, BTreeSet};

/// Longest article title, in characters.
pub const ARTICLE_TITLE_CHARS_MAX: usize = 200;
/// Longest article body, in bytes.
pub const ARTICLE_BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest search question, in characters (the rest is ignored).
pub const QUERY_CHARS_MAX: usize = 500;
/// Most results one search returns.
pub const SEARCH_RESULTS_MAX: usize = 20;

fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{3040}'..='\u{30FF}' | '\u{AC00}'..='\u{D7AF}')
}

/// Full-width ASCII (`Ａ`, `１`) to ASCII, then lower case.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    c.to_ascii_lowercase()
}

/// The distinct search terms of `text`, sorted.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut cjk_run: Vec<char> = Vec::new();
    let mut word = String::new();
    let flush_cjk = |run: &mut Vec<char>, out: &mut BTreeSet<String>| {
        for c in run.iter() {
            out.insert(c.to_string());
        }
        for pair in run.windows(2) {
            out.insert(pair.iter().collect());
        }
        run.clear();
    };
    let flush_word = |word: &mut String, out: &mut BTreeSet<String>| {
        if !word.is_empty() {
            out.insert(std::mem::take(word));
        }
    };
    for c in text.chars().take(ARTICLE_BODY_BYTES_MAX).map(fold) {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            cjk_run.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk_run, &mut out);
            word.push(c);
        } else {
            flush_cjk(&mut cjk_run, &mut out);
            flush_word(&mut word, &mut out);
        }
    }
    flush_cjk(&mut cjk_run, &mut out);
    flush_word(&mut word, &mut out);
    out.into_iter().collect()
}

/// The terms of a question, at most [`QUERY_CHARS_MAX`] characters of it.
pub fn query_terms(question: &str) -> Vec<String> {
    let cut: String = question.chars().take(QUERY_CHARS_MAX).collect();
    terms(&cut)
}

/// Ranks articles for a question's terms: each matching term adds its inverse document
/// frequency `ln(1 + n / df)`, so rare terms count more than ones every article has.
/// `postings` are the `(term, article)` pairs of the question's terms; `articles` is how
/// many articles there are. Best first, ties by article id; at most `limit`.
pub fn rank(postings: &[(String, i64)], articles: i64, limit: usize) -> Vec<(i64, f64)> {
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for (term, _) in postings {
        *df.entry(term.as_str()).or_default() += 1;
    }
    let n = articles.max(1) as f64;
    let mut scores: BTreeMap<i64, f64> = BTreeMap::new();
    for (term, article) in postings {
        let d = df[term.as_str()] as f64;
        *scores.entry(*article).or_default() += (1.0 + n / d).ln();
    }
    let mut ranked: Vec<(i64, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    ranked
}

/// An article's title: one line, 1 to [`ARTICLE_TITLE_CHARS_MAX`] characters.
pub fn parse_title(text: &str) -> Result<String, FieldError> {
    let t = text.trim();
    if t.is_empty()
        || t.chars().count() > ARTICLE_TITLE_CHARS_MAX
        || t.chars().any(char::is_control)
    {
        return Err(FieldError::new(
            "title",
            format!("one line of 1 to {ARTICLE_TITLE_CHARS_MAX} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// An article's body: not blank, at most [`ARTICLE_BODY_BYTES_MAX`] bytes, no NUL.
pub fn parse_body(text: &str) -> Result<String, FieldError> {
    if text.trim().is_empty() || text.len() > ARTICLE_BODY_BYTES_MAX || text.contains('\0') {
        return Err(FieldError::new(
            "body",
            format!("1 to {ARTICLE_BODY_BYTES_MAX} bytes, no NUL"),
        ));
    }
    Ok(text.to_owned())
}
