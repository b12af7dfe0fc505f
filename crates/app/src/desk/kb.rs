//! The knowledge base: articles in zh-TW, zh-HK or en, stored with their search terms
//! (character bigrams; [`domain::desk::kb`]) as `(term, article)` postings in a plain table
//! on both backends, and searched by ranking the postings of a question's terms.

use crate::{App, AppError, AppResult, Principal};
use domain::FieldError;
use domain::desk::kb::{self, SEARCH_RESULTS_MAX};
use store::desk::{self as rows, ArticleRow};

/// An article to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleInput {
    pub locale: String,
    pub title: String,
    pub body: String,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleHit {
    pub article: ArticleRow,
    /// Summed inverse document frequency of the matching terms (higher is better).
    pub score: f64,
}

impl App {
    /// Stores an article and its search terms (title and body).
    pub fn create_article(&self, who: &Principal, input: &ArticleInput) -> AppResult<ArticleRow> {
        if !["zh-TW", "zh-HK", "en"].contains(&input.locale.as_str()) {
            return Err(FieldError::new("locale", "must be zh-TW, zh-HK or en").into());
        }
        let title = kb::parse_title(&input.title)?;
        let body = kb::parse_body(&input.body)?;
        let terms = kb::terms(&format!("{title}\n{body}"));
        let now = self.now_micros();
        let id = self.store.write(|tx| {
            let id = rows::insert_article(tx, &input.locale, &title, &body, &terms, now)?;
            store::audit::insert(
                tx,
                now,
                &who.actor,
                "kb_article.create",
                Some(&format!("kb_article:{id}")),
                None,
            )?;
            anyhow::Ok(id)
        })?;
        self.store
            .read(|tx| rows::get_article(tx, id))?
            .ok_or(AppError::NotFound)
    }

    /// The articles that best answer `question`, best first, at most `limit`.
    pub fn search_articles(&self, question: &str, limit: usize) -> AppResult<Vec<ArticleHit>> {
        if !(1..=SEARCH_RESULTS_MAX).contains(&limit) {
            return Err(
                FieldError::new("limit", format!("must be 1 to {SEARCH_RESULTS_MAX}")).into(),
            );
        }
        if question.trim().is_empty() {
            return Err(FieldError::new("q", "must not be blank").into());
        }
        let terms = kb::query_terms(question);
        self.store.read(|tx| {
            let postings = rows::postings(tx, &terms)?;
            let articles = rows::count_articles(tx)?;
            let mut hits = Vec::new();
            for (id, score) in kb::rank(&postings, articles, limit) {
                if let Some(article) = rows::get_article(tx, id)? {
                    hits.push(ArticleHit { article, score });
                }
            }
            Ok(hits)
        })
    }
}
