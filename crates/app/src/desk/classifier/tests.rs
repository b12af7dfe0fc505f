//! The classifier trained on the shipped train split and measured on the test split and on the
//! hand-written holdout set, neither trained on, against the targets of issue 6 (category accuracy ≥ 85 %, FAQ-intent precision
//! ≥ 95 %, very-negative recall ≥ 90 %); and the model's JSON round trip.

use super::*;

const TEST_SPLIT: &str = include_str!("../../../../../testdata/desk/messages_test.jsonl");
/// Written by hand, apart from the generator and before the model was improved, in the styles
/// real customers use (see `testdata/desk/README.md`).
const HOLDOUT: &str = include_str!("../../../../../testdata/desk/messages_holdout.jsonl");

fn report(e: &Evaluation) {
    eprintln!(
        "accuracy {:.3} ({} / {}), intent precision {:.3} ({} / {}), very-negative recall {:.3} ({} / {})",
        e.accuracy(),
        e.correct,
        e.messages,
        e.intent_precision(),
        e.intents_right,
        e.intents_named,
        e.very_negative_recall(),
        e.very_negative_found,
        e.very_negative
    );
    for c in Category::ALL {
        let (p, r, n) = e.class(c);
        eprintln!("  {:<18} precision {p:.3} recall {r:.3} n {n}", c.as_str());
    }
}

#[test]
fn the_shipped_sets_parse_and_are_large_and_balanced_enough() {
    let train = parse_messages(SHIPPED_TRAINING_SET).unwrap();
    let test = parse_messages(TEST_SPLIT).unwrap();
    assert!(
        train.len() >= 700 && test.len() >= 300,
        "{} {}",
        train.len(),
        test.len()
    );
    for c in Category::ALL {
        let n = |set: &[MessageLine]| set.iter().filter(|m| m.category == Some(c)).count();
        assert!(
            n(&train) >= 40 && n(&test) >= 20,
            "{}: {} {}",
            c.as_str(),
            n(&train),
            n(&test)
        );
    }
    // Test lines are not train lines.
    for t in &test {
        assert!(!train.iter().any(|m| m.text == t.text), "{}", t.text);
    }
}

/// Prints the lines a classifier gets wrong (category, a wrong FAQ intent, missed anger).
fn print_errors(lines: &[MessageLine], analyses: &[Analysis]) {
    for (m, a) in lines.iter().zip(analyses) {
        let wrong_intent = a.intent.is_some() && m.intent != Some(a.intent);
        let missed_anger = m.sentiment == Some(SentimentLabel::VeryNegative)
            && a.sentiment_label() != SentimentLabel::VeryNegative;
        if m.category != Some(a.category) || wrong_intent || missed_anger {
            eprintln!(
                "{:?}: {} {:.2} {:?} {:.2} (expected {:?} {:?} {:?})",
                m.text,
                a.category.as_str(),
                a.confidence,
                a.intent.map(FaqIntent::as_str),
                a.sentiment,
                m.category.map(Category::as_str),
                m.intent.flatten().map(FaqIntent::as_str),
                m.sentiment.map(SentimentLabel::as_str)
            );
        }
    }
}

fn assert_targets(e: &Evaluation) {
    assert!(e.accuracy() >= 0.85, "category accuracy {}", e.accuracy());
    assert!(
        e.intent_precision() >= 0.95,
        "intent precision {}",
        e.intent_precision()
    );
    assert!(e.intents_named >= 20, "intents named {}", e.intents_named);
    assert!(
        e.very_negative_recall() >= 0.90,
        "very-negative recall {}",
        e.very_negative_recall()
    );
}

#[test]
fn the_holdout_set_is_large_varied_and_apart_from_the_training_set() {
    let holdout = parse_messages(HOLDOUT).unwrap();
    let train = parse_messages(SHIPPED_TRAINING_SET).unwrap();
    let test = parse_messages(TEST_SPLIT).unwrap();
    assert!(holdout.len() >= 300, "{}", holdout.len());
    for c in Category::ALL {
        let n = holdout.iter().filter(|m| m.category == Some(c)).count();
        assert!(n >= 20, "{}: {n}", c.as_str());
    }
    for i in FaqIntent::ALL {
        let n = holdout.iter().filter(|m| m.intent == Some(Some(i))).count();
        assert!(n >= 10, "{}: {n}", i.as_str());
    }
    let angry = holdout
        .iter()
        .filter(|m| m.sentiment == Some(SentimentLabel::VeryNegative))
        .count();
    assert!(angry >= 40, "{angry}");
    for h in &holdout {
        assert!(
            !train.iter().chain(&test).any(|m| m.text == h.text),
            "{}",
            h.text
        );
    }
}

/// The same targets on the hand-written holdout set, which the generator did not produce.
#[test]
fn trained_on_the_train_split_it_meets_the_targets_on_the_holdout_set() {
    let classifier = shipped_classifier();
    let holdout = parse_messages(HOLDOUT).unwrap();
    let (e, analyses) = evaluate(&classifier, &holdout);
    print_errors(&holdout, &analyses);
    report(&e);
    assert_targets(&e);
}

/// k-fold cross-validation on the training set only (the way the n-gram and regularisation
/// choices were made; 0.945 when they were): a model that stops generalising within its own
/// data fails here before any held-out set is consulted.
/// `cargo test -p app cross_validation -- --nocapture` prints the figures.
#[test]
fn cross_validation_on_the_training_set() {
    const FOLDS: usize = 5;
    let lines = parse_messages(SHIPPED_TRAINING_SET).unwrap();
    let mut totals = [0usize; 6];
    for fold in 0..FOLDS {
        let (held, kept): (Vec<_>, Vec<_>) = lines
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % FOLDS == fold);
        let kept: Vec<MessageLine> = kept.into_iter().map(|(_, m)| m).collect();
        let held: Vec<MessageLine> = held.into_iter().map(|(_, m)| m).collect();
        let classifier = Classifier::train(&examples(&kept)).unwrap();
        let (e, _) = evaluate(&classifier, &held);
        for (t, v) in totals.iter_mut().zip([
            e.correct,
            e.messages,
            e.intents_right,
            e.intents_named,
            e.very_negative_found,
            e.very_negative,
        ]) {
            *t += v;
        }
    }
    let r = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    eprintln!(
        "{FOLDS}-fold CV: accuracy {:.3} ({} / {}), intent precision {:.3} ({} / {}), very-negative recall {:.3} ({} / {})",
        r(totals[0], totals[1]),
        totals[0],
        totals[1],
        r(totals[2], totals[3]),
        totals[2],
        totals[3],
        r(totals[4], totals[5]),
        totals[4],
        totals[5]
    );
    assert!(
        r(totals[0], totals[1]) >= 0.90,
        "cross-validated category accuracy {:.3} below 0.90",
        r(totals[0], totals[1])
    );
}

#[test]
fn trained_on_the_train_split_it_meets_the_targets_on_the_test_split() {
    let started = crate::sys::Stopwatch::start();
    let classifier = Classifier::train(&shipped_examples()).unwrap();
    let train_time = started.elapsed();
    let test = parse_messages(TEST_SPLIT).unwrap();
    let (e, analyses) = evaluate(&classifier, &test);
    print_errors(&test, &analyses);
    eprintln!("trained in {train_time:?}");
    report(&e);
    assert_targets(&e);
}

/// A question that reads like a FAQ but is a complaint (a repeat ask, impatience, anger) goes
/// to a person; the plain question is answered.
#[test]
fn faq_looking_complaints_get_no_automatic_answer() {
    let classifier = shipped_classifier();
    for text in [
        "我的訂單在哪裡？？已經第三次問了，你們到底有沒有在處理",
        "請問我的訂單在哪裡？這是第四次問了",
        "忘記密碼怎麼辦？？？重設的信寄了十次都沒來",
        "如何退貨？？",
    ] {
        assert_eq!(classifier.analyse(None, text).intent, None, "{text}");
    }
    assert_eq!(
        classifier.analyse(None, "請問我的訂單在哪裡？").intent,
        Some(FaqIntent::WhereIsMyOrder)
    );
}

#[test]
fn a_model_survives_its_json_round_trip() {
    let classifier = shipped_classifier();
    let back = from_json(&to_json(&classifier)).unwrap();
    for text in ["我的訂單在哪裡？", "店員態度超差😡", "謝謝你們"] {
        assert_eq!(classifier.analyse(None, text), back.analyse(None, text));
    }
    assert!(from_json("{\"format\": 2}").is_err());
    assert!(from_json("not json").is_err());
}

#[test]
fn message_lines_name_their_line_and_field() {
    let e =
        parse_messages("{\"text\":\"hi\"}\n{\"text\":\"x\",\"category\":\"nope\"}").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (2, "category"));
    let e = parse_messages("\n{\"channel\":\"line\"}").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (2, "text"));
    let e = parse_messages("[1]").unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (1, "line"));
    let e = parse_messages("{\"text\":\"x\",\"sentiment\":\"meh\"}").unwrap_err();
    assert_eq!(e.field, "sentiment");
    let e = parse_messages("{\"text\":\"x\",\"channel\":\"fax\"}").unwrap_err();
    assert_eq!(e.field, "channel");
}

/// Arbitrary text never panics and always answers within range: random Unicode scalar
/// values (every plane, controls, combining marks, unpaired halves cannot occur in a `str`),
/// 注音, emoji, shouting, and inputs up to the body limit.
#[test]
fn arbitrary_text_never_panics_and_stays_in_range() {
    let classifier = shipped_classifier();
    let mut rng = crate::workload::Rng::seeded(6);
    let pieces = [
        "ㄉ",
        "ㄅ",
        "！！！",
        "😡",
        "退貨",
        "不是",
        "\u{0301}",
        "\u{FE0F}",
        " ",
        "ＡＢ",
        "\0",
    ];
    for round in 0..400 {
        let len = if round % 50 == 0 {
            60_000
        } else {
            rng.below(300) as usize
        };
        let mut text = String::new();
        while text.len() < len {
            if rng.below(4) == 0 {
                text.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
            } else if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                text.push(c);
            }
        }
        let subject = (round % 3 == 0).then_some(text.as_str());
        let a = classifier.analyse(subject, &text);
        assert!((0.0..=1.0).contains(&a.confidence), "{round}");
        assert!((-1.0..=1.0).contains(&a.sentiment), "{round}");
        assert!(a.confidence.is_finite() && a.sentiment.is_finite());
    }
    let started = crate::sys::Stopwatch::start();
    let huge = "退貨".repeat(32 * 1024);
    classifier.analyse(None, &huge);
    assert!(
        started.elapsed().as_secs() < 2,
        "bounded time on a 64 KiB body"
    );
}
