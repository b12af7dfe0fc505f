use super::super::model::{count_ngrams, for_each_ngram, normalize};
use super::*;

fn s(text: &str) -> f32 {
    let n = normalize(text);
    sentiment(text, &n, &urgency(&n))
}

fn label(text: &str) -> SentimentLabel {
    SentimentLabel::of(s(text))
}

#[test]
fn normalisation_folds_width_case_punctuation_zhuyin_and_simplified() {
    assert_eq!(normalize("ＬＩＮＥ　Pay！！退款"), "line pay 退款");
    assert_eq!(normalize("好慢ㄛ，怎麼辦ㄌ"), "好慢喔 怎麼辦了");
    assert_eq!(normalize("我的订单在哪"), "我的訂單在哪");
    assert_eq!(normalize("ㄅ要啦ㄅ"), "不要啦吧");
    assert_eq!(normalize("..."), "");
}

#[test]
fn ngrams_are_one_to_three_characters_within_phrases() {
    let mut grams = Vec::new();
    for_each_ngram(&normalize("退貨，好"), |_, g| {
        grams.push(g.iter().collect::<String>())
    });
    assert_eq!(grams, ["退", "退貨", "貨", "好"]);
    assert_eq!(count_ngrams("abcd"), 4 + 3 + 2);
    assert_eq!(count_ngrams(""), 0);
}

#[test]
fn sentiment_handles_negation_intensifiers_sarcasm_emoji_and_zhuyin() {
    use SentimentLabel::*;
    let cases: &[(&str, SentimentLabel)] = &[
        ("謝謝你們，服務很貼心", Positive),
        ("非常滿意", Positive),
        ("不是很滿意", Negative),
        ("沒有不好，整體很滿意", Positive),
        ("真是太棒了，等了兩週還沒到", VeryNegative),
        (
            "好棒喔，說好三天到，現在第十天了，真是感謝你們喔",
            VeryNegative,
        ),
        ("店員態度超差😡", VeryNegative),
        ("東西很好吃😍", Positive),
        ("物流好慢ㄛ", Negative),
        ("氣死我了，爛透了", VeryNegative),
        ("請問營業時間", Neutral),
        ("發票金額不對！！！", VeryNegative),
        ("再不退款我就找消基會", VeryNegative),
        ("小孩吃了過敏", VeryNegative),
    ];
    for (text, expected) in cases {
        assert_eq!(label(text), *expected, "{text}: {}", s(text));
    }
    assert!(s("超級好吃") > s("好吃"), "an intensifier strengthens");
    for text in ["", "😡😡😡😡😡😡😡😡😡😡😡😡😡😡😡😡", "不不不不不不"]
    {
        assert!((-1.0..=1.0).contains(&s(text)));
    }
}

#[test]
fn urgency_flags_safety_legal_agency_and_media() {
    let flags = |t: &str| urgency(&normalize(t));
    assert_eq!(flags("吹風機冒煙，差點起火"), [Urgency::Safety]);
    assert_eq!(flags("我要請律師告你們"), [Urgency::LegalThreat]);
    assert_eq!(flags("我已經打給消保官"), [Urgency::ConsumerAgency]);
    assert_eq!(flags("我要上PTT和Dcard爆料"), [Urgency::Media]);
    assert_eq!(
        flags("小孩過敏送醫，我會找記者"),
        [Urgency::Safety, Urgency::Media]
    );
    assert!(flags("請問營業時間").is_empty());
}

#[test]
fn repeat_asks_accusations_and_double_marks_deepen_a_complaint() {
    assert!(repeat_ask(&normalize("已經第三次問了")));
    assert!(repeat_ask(&normalize("打了五次電話都沒人接")));
    assert!(repeat_ask(&normalize("问三次都不回")));
    assert!(!repeat_ask(&normalize("可以分三次付款嗎")));
    assert!(!repeat_ask(&normalize("我問一次就好")));
    use SentimentLabel::*;
    for (text, expected) in [
        (
            "我的訂單在哪裡？？已經第三次問了，你們到底有沒有在處理",
            VeryNegative,
        ),
        ("你們是詐騙集團嗎？沒買東西也扣我錢", VeryNegative),
        ("退咗貨成個月都未退錢，搞乜呀", VeryNegative),
        ("門市人員態度很差，真的很心寒", VeryNegative),
        ("請問週日有開嗎？？", Neutral),
        ("感謝你們！！", Positive),
    ] {
        assert_eq!(label(text), expected, "{text}: {}", s(text));
    }
}

#[test]
fn cantonese_and_more_simplified_characters_fold() {
    assert_eq!(normalize("你哋冇回覆"), "你們沒回覆");
    assert_eq!(normalize("质量太差，刚买的电饭锅"), "質量太差 剛買的電飯鍋");
}
