//! The desk's learned classifier as the app uses it: the shipped labelled zh-TW training set
//! (`testdata/desk/messages_train.jsonl` and `messages_train_extra.jsonl`, embedded), message files in that JSONL form (read
//! with errors naming the line and field), the model as a JSON document, its evaluation
//! against labels (accuracy, confusion matrix, per-class precision and recall, FAQ-intent
//! precision, very-negative recall), and the model in force.
//!
//! A fresh store uses the model trained from the shipped set at first use (in well under a
//! second). The job [`RETRAIN_JOB`] trains again on the shipped set plus every ticket whose
//! category a person set (the latest category event not written by `system`), and stores the
//! result as a new version in `classifier_models`; the app then uses the highest version.
//! An agent's category change schedules that job (deduplicated per hour).

use crate::{App, AppError, AppResult};
use anyhow::Context as _;
use domain::FieldError;
use domain::desk::Category;
use domain::desk::classify::model::{ModelError, SoftmaxModel};
use domain::desk::classify::sentiment::SentimentLabel;
use domain::desk::classify::{Analysis, Classifier, Example, FaqIntent};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, OnceLock};

/// Job kind: retrain the classifier from the shipped set and agents' labels.
pub const RETRAIN_JOB: &str = "desk.classifier.retrain";
/// Delay between an agent's label and the retrain it schedules (labels within it share one run).
pub const RETRAIN_DELAY_SECONDS: i64 = 3_600;
/// Largest message line read from a file, in bytes.
pub const MESSAGE_LINE_BYTES_MAX: usize = 256 * 1024;
/// The format number of the stored model document.
pub const MODEL_FORMAT: u32 = 1;

/// The labelled training set shipped with Patron: the generated train split, then hand-written
/// lines in the styles the generator does not produce (long e-mails, one-liners, typos,
/// code-switching, Cantonese, Simplified characters, sarcasm, FAQ-looking complaints).
pub const SHIPPED_TRAINING_SET: &str = concat!(
    include_str!("../../../../testdata/desk/messages_train.jsonl"),
    "\n",
    include_str!("../../../../testdata/desk/messages_train_extra.jsonl")
);

/// One message of a JSONL file, with its labels when the file has them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageLine {
    pub text: String,
    pub channel: Option<String>,
    pub subject: Option<String>,
    pub category: Option<Category>,
    /// `Some(None)`: labelled as no FAQ intent (a labelled line without `intent`).
    pub intent: Option<Option<FaqIntent>>,
    pub sentiment: Option<SentimentLabel>,
}

/// Why a line of a message file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {reason}")]
pub struct LineError {
    pub line: usize,
    pub field: String,
    pub reason: String,
}

fn text_field(
    obj: &serde_json::Map<String, serde_json::Value>,
    line: usize,
    field: &str,
) -> Result<Option<String>, LineError> {
    match obj.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(LineError {
            line,
            field: field.to_owned(),
            reason: "must be a string".to_owned(),
        }),
    }
}

/// Reads one line (`line` counts from 1): an object with `text` and optional `channel`,
/// `subject`, `category`, `intent`, `sentiment`. `Ok(None)` for a blank line.
pub fn parse_message_line(line: usize, raw: &str) -> Result<Option<MessageLine>, LineError> {
    let err = |field: &str, reason: String| LineError {
        line,
        field: field.to_owned(),
        reason,
    };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    if raw.len() > MESSAGE_LINE_BYTES_MAX {
        return Err(err(
            "line",
            format!("longer than {MESSAGE_LINE_BYTES_MAX} bytes"),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| err("line", format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| err("line", "must be a JSON object".to_owned()))?;
    let text = text_field(obj, line, "text")?.ok_or_else(|| err("text", "missing".to_owned()))?;
    if text.trim().is_empty() {
        return Err(err("text", "must not be blank".to_owned()));
    }
    let channel = text_field(obj, line, "channel")?;
    if let Some(c) = &channel
        && ![
            "email", "line", "web", "phone", "store", "api", "in_store", "social",
        ]
        .contains(&c.as_str())
    {
        return Err(err(
            "channel",
            format!("unknown channel {c:?}: email, line, web, phone or store"),
        ));
    }
    let subject = text_field(obj, line, "subject")?;
    let category = text_field(obj, line, "category")?
        .map(|c| Category::parse(&c).map_err(|e| err("category", e.reason)))
        .transpose()?;
    let intent = text_field(obj, line, "intent")?
        .map(|i| {
            FaqIntent::parse(&i).ok_or_else(|| {
                err(
                    "intent",
                    format!(
                        "unknown intent {i:?}: where_is_my_order, how_to_return, password_reset, points_balance or store_hours"
                    ),
                )
            })
        })
        .transpose()?;
    let sentiment = text_field(obj, line, "sentiment")?
        .map(|s| {
            SentimentLabel::parse(&s).ok_or_else(|| {
                err(
                    "sentiment",
                    format!(
                        "unknown sentiment {s:?}: very_negative, negative, neutral or positive"
                    ),
                )
            })
        })
        .transpose()?;
    Ok(Some(MessageLine {
        text,
        channel,
        subject,
        // A line labelled with a category is labelled for intent too (absent: none).
        intent: if category.is_some() {
            Some(intent)
        } else {
            intent.map(Some)
        },
        category,
        sentiment,
    }))
}

/// Every line of a JSONL text.
pub fn parse_messages(text: &str) -> Result<Vec<MessageLine>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if let Some(m) = parse_message_line(i + 1, raw)? {
            out.push(m);
        }
    }
    Ok(out)
}

/// The labelled lines as training examples (lines without a category are skipped).
pub fn examples(lines: &[MessageLine]) -> Vec<Example> {
    lines
        .iter()
        .filter_map(|m| {
            Some(Example {
                subject: m.subject.clone(),
                text: m.text.clone(),
                category: m.category?,
                intent: m.intent.flatten(),
            })
        })
        .collect()
}

/// The shipped training set as examples.
pub fn shipped_examples() -> Vec<Example> {
    // The shipped file is checked by a test; a broken line here is a build defect.
    examples(&parse_messages(SHIPPED_TRAINING_SET).unwrap_or_default())
}

/// The model trained on the shipped set, trained once per process.
pub fn shipped_classifier() -> Arc<Classifier> {
    static SHIPPED: OnceLock<Arc<Classifier>> = OnceLock::new();
    SHIPPED
        .get_or_init(|| {
            let examples = shipped_examples();
            Arc::new(Classifier::train(&examples).unwrap_or_else(|_| empty_classifier()))
        })
        .clone()
}

/// A classifier that knows nothing (every message `other`): only if the shipped set were empty.
fn empty_classifier() -> Classifier {
    let one = [Example {
        subject: None,
        text: "-".to_owned(),
        category: Category::Other,
        intent: None,
    }];
    Classifier::train(&one).expect("one example trains")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SoftmaxDoc {
    labels: Vec<String>,
    vocabulary: Vec<String>,
    extra: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl SoftmaxDoc {
    fn of(m: &SoftmaxModel) -> SoftmaxDoc {
        SoftmaxDoc {
            labels: m.labels.clone(),
            vocabulary: m.vocabulary.clone(),
            extra: m.extra,
            weights: m.weights.clone(),
            bias: m.bias.clone(),
        }
    }

    fn model(self) -> Result<SoftmaxModel, ModelError> {
        SoftmaxModel::from_parts(
            self.labels,
            self.vocabulary,
            self.extra,
            self.weights,
            self.bias,
        )
    }
}

/// The stored form of a classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ModelDoc {
    format: u32,
    category: SoftmaxDoc,
    intent: SoftmaxDoc,
}

/// A classifier as a JSON document.
pub fn to_json(c: &Classifier) -> String {
    serde_json::to_string(&ModelDoc {
        format: MODEL_FORMAT,
        category: SoftmaxDoc::of(&c.category),
        intent: SoftmaxDoc::of(&c.intent),
    })
    .unwrap_or_default()
}

/// A classifier from its JSON document, checked against this code's labels and features.
pub fn from_json(text: &str) -> anyhow::Result<Classifier> {
    let doc: ModelDoc = serde_json::from_str(text).context("classifier model JSON")?;
    anyhow::ensure!(
        doc.format == MODEL_FORMAT,
        "classifier model format {} (this version reads {MODEL_FORMAT})",
        doc.format
    );
    let category = doc.category.model().context("category model")?;
    let intent = doc.intent.model().context("intent model")?;
    Ok(Classifier::from_models(category, intent)?)
}

/// How a classifier did on labelled lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    pub messages: usize,
    pub correct: usize,
    /// `confusion[expected][predicted]`, in [`Category::ALL`] order.
    pub confusion: Vec<Vec<usize>>,
    /// Intents named, and how many of them were the labelled one.
    pub intents_named: usize,
    pub intents_right: usize,
    /// Lines labelled very negative, and how many were found very negative.
    pub very_negative: usize,
    pub very_negative_found: usize,
}

impl Evaluation {
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.messages)
    }

    /// (precision, recall, support) of a category.
    pub fn class(&self, c: Category) -> (f64, f64, usize) {
        let i = c as usize;
        let predicted: usize = self.confusion.iter().map(|row| row[i]).sum();
        let support: usize = self.confusion[i].iter().sum();
        (
            ratio(self.confusion[i][i], predicted),
            ratio(self.confusion[i][i], support),
            support,
        )
    }

    /// Share of named intents that were right (1 when none was named: nothing was wrong).
    pub fn intent_precision(&self) -> f64 {
        if self.intents_named == 0 {
            1.0
        } else {
            ratio(self.intents_right, self.intents_named)
        }
    }

    pub fn very_negative_recall(&self) -> f64 {
        ratio(self.very_negative_found, self.very_negative)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Classifies every labelled line and compares. Lines without a category count only for the
/// intent and sentiment figures they are labelled for.
pub fn evaluate(c: &Classifier, lines: &[MessageLine]) -> (Evaluation, Vec<Analysis>) {
    let n = Category::ALL.len();
    let mut e = Evaluation {
        confusion: vec![vec![0; n]; n],
        ..Evaluation::default()
    };
    let mut analyses = Vec::with_capacity(lines.len());
    for m in lines {
        let a = c.analyse(m.subject.as_deref(), &m.text);
        if let Some(expected) = m.category {
            e.messages += 1;
            e.confusion[expected as usize][a.category as usize] += 1;
            if expected == a.category {
                e.correct += 1;
            }
        }
        if let (Some(expected), Some(named)) = (m.intent, a.intent) {
            e.intents_named += 1;
            if expected == Some(named) {
                e.intents_right += 1;
            }
        }
        if m.sentiment == Some(SentimentLabel::VeryNegative) {
            e.very_negative += 1;
            if a.sentiment_label() == SentimentLabel::VeryNegative {
                e.very_negative_found += 1;
            }
        }
        analyses.push(a);
    }
    (e, analyses)
}

/// The model in force, cached per stored version (0: the shipped model).
#[derive(Debug, Default)]
pub struct ClassifierCache(Mutex<Option<(i64, Arc<Classifier>)>>);

/// A message to classify (the API's body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifyInput {
    pub text: String,
    pub channel: Option<String>,
    pub subject: Option<String>,
}

/// What the desk makes of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifyView {
    pub category: Category,
    pub confidence: f32,
    pub intent: Option<FaqIntent>,
    pub sentiment: f32,
    pub sentiment_label: SentimentLabel,
    pub urgency: Vec<&'static str>,
    /// The stored model version used (0: the shipped model).
    pub model_version: i64,
}

/// What a retrain stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrainView {
    pub version: i64,
    pub examples: i64,
    pub agent_labels: i64,
}

impl App {
    /// The classifier in force and its stored version (0: the shipped model).
    pub fn classifier(&self) -> AppResult<(i64, Arc<Classifier>)> {
        let latest = self.store.read(store::desk_triage::latest_model_version)?;
        let Some(version) = latest else {
            return Ok((0, shipped_classifier()));
        };
        let mut cache = self
            .classifier
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((v, c)) = cache.as_ref()
            && *v == version
        {
            return Ok((version, c.clone()));
        }
        let text = self
            .store
            .read(|tx| store::desk_triage::model(tx, version))?
            .ok_or(AppError::NotFound)?;
        let classifier = Arc::new(from_json(&text)?);
        *cache = Some((version, classifier.clone()));
        Ok((version, classifier))
    }

    /// Classifies one message with the model in force (`POST /api/v1/desk/classify`).
    pub fn classify_message(&self, input: &ClassifyInput) -> AppResult<ClassifyView> {
        let body = domain::desk::Body::parse(&input.text).map_err(|e| e.within("text"))?;
        if let Some(c) = &input.channel {
            domain::desk::TicketChannel::parse(c)?;
        }
        let subject = input
            .subject
            .as_deref()
            .map(domain::desk::parse_subject)
            .transpose()?;
        let (version, classifier) = self.classifier()?;
        let a = classifier.analyse(subject.as_deref(), body.as_str());
        Ok(view(&a, version))
    }

    /// Schedules a retrain [`RETRAIN_DELAY_SECONDS`] from now (one per due hour).
    pub fn schedule_classifier_retrain(&self) -> AppResult<()> {
        let now = self.now_micros();
        let attempts_max = self.settings.job_attempts_max;
        self.store
            .write(|tx| enqueue_retrain(tx, now, attempts_max))?;
        Ok(())
    }

    /// Trains on the shipped set plus every ticket a person categorised and stores the model
    /// as the next version (the job body of [`RETRAIN_JOB`], also callable directly).
    pub fn retrain_classifier(&self) -> AppResult<RetrainView> {
        let labelled = self
            .store
            .read(store::desk_triage::agent_labelled_messages)?;
        let mut examples = shipped_examples();
        let shipped = examples.len();
        for m in &labelled {
            let Ok(category) = Category::parse(&m.category) else {
                continue;
            };
            examples.push(Example {
                subject: m.subject.clone(),
                text: m.body.clone(),
                category,
                intent: None,
            });
        }
        let started = crate::sys::Stopwatch::start();
        let classifier =
            Classifier::train(&examples).map_err(|e| FieldError::new("examples", e.to_string()))?;
        let train_ms = started.elapsed().as_millis();
        let json = to_json(&classifier);
        let now = self.now_micros();
        let agent_labels = (examples.len() - shipped) as i64;
        let version = self.store.write(|tx| {
            store::desk_triage::insert_model(tx, examples.len() as i64, agent_labels, &json, now)
        })?;
        tracing::info!(
            version,
            examples = examples.len(),
            agent_labels,
            train_ms = train_ms as u64,
            "classifier retrained"
        );
        Ok(RetrainView {
            version,
            examples: examples.len() as i64,
            agent_labels,
        })
    }

    /// The job body of [`RETRAIN_JOB`].
    pub fn run_classifier_retrain_job(&self, _payload: &str) -> Result<(), String> {
        self.retrain_classifier()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

pub(crate) fn enqueue_retrain(
    tx: &mut store::sql::Tx<'_>,
    now_micros: i64,
    attempts_max: i64,
) -> anyhow::Result<()> {
    let hour = 3_600_000_000;
    let due = (now_micros / hour + 1) * hour + (RETRAIN_DELAY_SECONDS - 3_600) * 1_000_000;
    let key = format!("{RETRAIN_JOB}:{due}");
    store::jobs::enqueue(
        tx,
        &store::jobs::NewJob {
            kind: RETRAIN_JOB,
            payload: "{}",
            due_at_micros: due,
            max_attempts: attempts_max,
            dedupe_key: Some(&key),
            now_micros,
        },
    )?;
    Ok(())
}

/// The view of an analysis.
pub fn view(a: &Analysis, model_version: i64) -> ClassifyView {
    ClassifyView {
        category: a.category,
        confidence: a.confidence,
        intent: a.intent,
        sentiment: a.sentiment,
        sentiment_label: a.sentiment_label(),
        urgency: a.urgency.iter().map(|u| u.as_str()).collect(),
        model_version,
    }
}

#[cfg(test)]
mod tests;
