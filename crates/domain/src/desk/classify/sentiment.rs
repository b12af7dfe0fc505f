//! Sentiment of a Traditional Chinese message as a score in [−1, 1], and urgency flags.
//!
//! The score is a lexicon sum on the normalised text ([`super::model::normalize`]: 注音文
//! already folded, ㄉ → 的): each lexicon entry found (longest first, not overlapping) adds its
//! weight; an intensifier just before it (超, 爆, 非常, 很…) multiplies it; a negator just
//! before it (不, 沒有, 不是, 唔, 冇…, an intensifier may sit between: 不是很滿意) flips and
//! weakens it, so 「沒有不好」 is mildly positive and 「不是很滿意」 negative. A sarcasm
//! marker (「真是太棒了」, 「感謝你們喔」) together with a complaint turns the praise into
//! blame. Angry emoji and runs of ！ or ？ add to a negative message. Urgency flags (safety,
//! legal threat, consumer agency, media) weigh heavily. The sum `s` becomes `s / (|s| + 2)`.
//!
//! Labels: very negative at or below [`VERY_NEGATIVE_MAX`], negative below
//! [`NEGATIVE_MAX`], positive from [`POSITIVE_MIN`], neutral between.

/// A score at or below this is very negative (anger, threats).
pub const VERY_NEGATIVE_MAX: f32 = -0.6;
/// A score below this is negative.
pub const NEGATIVE_MAX: f32 = -0.15;
/// A score from this on is positive.
pub const POSITIVE_MIN: f32 = 0.25;

/// Sentiment buckets of the labelled data and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SentimentLabel {
    VeryNegative,
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    pub const ALL: [SentimentLabel; 4] = [
        SentimentLabel::VeryNegative,
        SentimentLabel::Negative,
        SentimentLabel::Neutral,
        SentimentLabel::Positive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::VeryNegative => "very_negative",
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }

    pub fn parse(s: &str) -> Option<SentimentLabel> {
        SentimentLabel::ALL.into_iter().find(|l| l.as_str() == s)
    }

    pub fn of(score: f32) -> SentimentLabel {
        if score <= VERY_NEGATIVE_MAX {
            SentimentLabel::VeryNegative
        } else if score < NEGATIVE_MAX {
            SentimentLabel::Negative
        } else if score < POSITIVE_MIN {
            SentimentLabel::Neutral
        } else {
            SentimentLabel::Positive
        }
    }
}

/// What makes a message urgent beyond its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Urgency {
    /// Injury, allergy, fire, poisoning.
    Safety,
    /// A lawyer, a lawsuit, the police.
    LegalThreat,
    /// 消基會, a consumer protection officer.
    ConsumerAgency,
    /// The press, PTT, Dcard, a public post.
    Media,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [
        Urgency::Safety,
        Urgency::LegalThreat,
        Urgency::ConsumerAgency,
        Urgency::Media,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Safety => "safety",
            Urgency::LegalThreat => "legal_threat",
            Urgency::ConsumerAgency => "consumer_agency",
            Urgency::Media => "media",
        }
    }
}

const URGENCY_WORDS: &[(&str, Urgency)] = &[
    ("受傷", Urgency::Safety),
    ("過敏", Urgency::Safety),
    ("起火", Urgency::Safety),
    ("著火", Urgency::Safety),
    ("燒起來", Urgency::Safety),
    ("冒煙", Urgency::Safety),
    ("爆炸", Urgency::Safety),
    ("觸電", Urgency::Safety),
    ("電到", Urgency::Safety),
    ("漏電", Urgency::Safety),
    ("中毒", Urgency::Safety),
    ("送醫", Urgency::Safety),
    ("急診", Urgency::Safety),
    ("看醫生", Urgency::Safety),
    ("割傷", Urgency::Safety),
    ("燙傷", Urgency::Safety),
    ("拉肚子", Urgency::Safety),
    ("腹瀉", Urgency::Safety),
    ("嘔吐", Urgency::Safety),
    ("流血", Urgency::Safety),
    ("窒息", Urgency::Safety),
    ("噎到", Urgency::Safety),
    ("燒焦", Urgency::Safety),
    ("火花", Urgency::Safety),
    ("電池膨脹", Urgency::Safety),
    ("危險", Urgency::Safety),
    ("焦味", Urgency::Safety),
    ("起疹子", Urgency::Safety),
    ("告你", Urgency::LegalThreat),
    ("提告", Urgency::LegalThreat),
    ("律師", Urgency::LegalThreat),
    ("法院", Urgency::LegalThreat),
    ("訴訟", Urgency::LegalThreat),
    ("存證信函", Urgency::LegalThreat),
    ("法律途徑", Urgency::LegalThreat),
    ("法律責任", Urgency::LegalThreat),
    ("報警", Urgency::LegalThreat),
    ("告到", Urgency::LegalThreat),
    ("詐欺", Urgency::LegalThreat),
    ("消基會", Urgency::ConsumerAgency),
    ("消保官", Urgency::ConsumerAgency),
    ("消保會", Urgency::ConsumerAgency),
    ("消保處", Urgency::ConsumerAgency),
    ("消費者保護", Urgency::ConsumerAgency),
    ("消費者文教基金會", Urgency::ConsumerAgency),
    ("消委會", Urgency::ConsumerAgency),
    ("1950", Urgency::ConsumerAgency),
    ("爆料", Urgency::Media),
    ("記者", Urgency::Media),
    ("上新聞", Urgency::Media),
    ("媒體", Urgency::Media),
    ("ptt", Urgency::Media),
    ("dcard", Urgency::Media),
    ("靠北", Urgency::Media),
    ("公審", Urgency::Media),
    ("上網公開", Urgency::Media),
    ("po上網", Urgency::Media),
    ("po網", Urgency::Media),
    ("發文公開", Urgency::Media),
    ("網路上公開", Urgency::Media),
];

/// The urgency flags of a normalised text, each once, in [`Urgency::ALL`] order.
pub fn urgency(normalized: &str) -> Vec<Urgency> {
    let compact: String = normalized.chars().filter(|c| *c != ' ').collect();
    Urgency::ALL
        .into_iter()
        .filter(|u| {
            URGENCY_WORDS
                .iter()
                .any(|(w, flag)| flag == u && compact.contains(w))
        })
        .collect()
}

/// (entry, weight): positive praise, negative complaint; strong words weigh 3 or more.
const LEXICON: &[(&str, f32)] = &[
    // praise
    ("謝謝", 0.6),
    ("感謝", 1.5),
    ("多謝", 0.6),
    ("感恩", 0.3),
    ("讚", 2.0),
    ("棒", 2.0),
    ("好棒", 2.0),
    ("很好", 1.5),
    ("好好", 1.0),
    ("滿意", 2.0),
    ("喜歡", 2.0),
    ("推薦", 1.5),
    ("大推", 2.5),
    ("貼心", 2.0),
    ("用心", 2.0),
    ("窩心", 2.0),
    ("溫暖", 1.5),
    ("好吃", 2.0),
    ("好用", 2.0),
    ("好穿", 2.0),
    ("好看", 1.5),
    ("專業", 1.5),
    ("親切", 2.0),
    ("熱心", 2.0),
    ("耐心", 1.5),
    ("溫柔", 1.5),
    ("開心", 1.5),
    ("感動", 2.0),
    ("放心", 1.5),
    ("安心", 1.5),
    ("驚喜", 2.0),
    ("一百分", 2.5),
    ("五顆星", 2.5),
    ("回購", 1.5),
    ("順利", 1.0),
    ("迅速", 1.0),
    ("超快", 1.5),
    ("很快", 1.0),
    ("準時", 1.0),
    ("周到", 1.5),
    ("精美", 1.5),
    ("漂亮", 1.5),
    ("舒服", 1.5),
    ("可愛", 1.0),
    ("信任", 1.5),
    ("辛苦了", 1.5),
    ("有禮貌", 2.0),
    ("物超所值", 2.0),
    ("cp值很高", 2.0),
    ("thank", 1.0),
    ("great", 1.5),
    ("good", 1.0),
    ("👍", 2.0),
    ("😍", 2.0),
    ("❤", 1.5),
    ("🥰", 2.0),
    ("😊", 1.0),
    // complaint
    ("壞", -1.5),
    ("差", -1.5),
    ("很差", -2.0),
    ("爛", -2.5),
    ("慢", -1.0),
    ("失望", -2.0),
    ("不滿", -2.0),
    ("不好", -1.5),
    ("不舒服", -1.5),
    ("生氣", -2.5),
    ("不爽", -3.0),
    ("火大", -3.5),
    ("氣死", -4.0),
    ("氣到", -3.5),
    ("爛透", -4.0),
    ("爛到", -3.5),
    ("垃圾", -3.5),
    ("騙", -2.5),
    ("騙子", -4.0),
    ("騙錢", -4.0),
    ("誇張", -2.5),
    ("離譜", -3.0),
    ("扯", -2.0),
    ("有夠扯", -3.5),
    ("太扯", -3.0),
    ("噁心", -3.0),
    ("惡劣", -3.5),
    ("羞辱", -3.5),
    ("歧視", -3.0),
    ("完蛋", -3.0),
    ("再也不會", -3.0),
    ("不會再", -2.5),
    ("投訴", -2.0),
    ("客訴", -1.5),
    ("客訴到底", -3.5),
    ("刁難", -3.0),
    ("浪費", -2.0),
    ("嚇死", -3.0),
    ("傻眼", -2.5),
    ("無言", -2.0),
    ("受不了", -3.0),
    ("忍無可忍", -4.0),
    ("莫名其妙", -2.5),
    ("搞什麼", -3.5),
    ("在搞什麼", -3.5),
    ("在幹嘛", -3.0),
    ("到底", -1.0),
    ("幹", -2.5),
    ("靠", -1.5),
    ("奧客", -2.0),
    ("敷衍", -2.0),
    ("推卸", -2.0),
    ("兇", -2.0),
    ("臭臉", -2.0),
    ("翻白眼", -2.0),
    ("不耐煩", -2.0),
    ("沒禮貌", -2.0),
    ("無禮", -2.5),
    ("不理", -1.5),
    ("冷冰冰", -1.5),
    ("瑕疵", -1.5),
    ("故障", -1.5),
    ("破", -1.0),
    ("裂", -1.0),
    ("發霉", -2.0),
    ("過期", -1.5),
    ("變質", -2.0),
    ("有蟲", -3.0),
    ("不能用", -1.5),
    ("沒反應", -1.0),
    ("失敗", -1.0),
    ("錯誤", -1.0),
    ("錯", -0.8),
    ("還沒", -1.0),
    ("沒收到", -1.5),
    ("沒來", -1.0),
    ("延遲", -1.5),
    ("延誤", -1.5),
    ("拖", -1.5),
    ("等很久", -2.0),
    ("太久", -1.5),
    ("好久", -1.5),
    ("被扣", -1.0),
    ("多收", -1.5),
    ("盜", -2.0),
    ("駭", -2.0),
    ("難過", -2.0),
    ("可惜", -1.0),
    ("遺憾", -1.0),
    ("麻煩", -0.3),
    ("說好", -1.0),
    ("快處理", -1.5),
    ("吼", -2.0),
    ("罵", -2.0),
    ("不友善", -2.0),
    ("掛斷", -1.5),
    ("掛電話", -1.5),
    ("bad", -1.5),
    ("terrible", -3.0),
    ("worst", -3.5),
    ("angry", -3.0),
    ("😡", -4.0),
    ("🤬", -4.5),
    ("😤", -3.0),
    ("😠", -3.5),
    ("💢", -3.0),
    ("😭", -1.5),
    ("😢", -1.0),
    ("😞", -1.5),
    ("🙄", -1.5),
    ("唔該", 0.0),
    // anger and accusation beyond single complaint words
    ("詐騙", -4.0),
    ("欺騙", -3.5),
    ("強盜", -4.0),
    ("耍人", -3.5),
    ("在耍", -3.0),
    ("吞", -1.5),
    ("心寒", -3.0),
    ("不能接受", -3.0),
    ("無法接受", -3.0),
    ("交代", -2.0),
    ("比中指", -4.0),
    ("欺負", -3.0),
    ("過分", -2.5),
    ("可惡", -3.0),
    ("受夠", -3.5),
    ("情緒激動", -3.5),
    ("激動", -2.0),
    ("搞乜", -3.5),
    ("激死", -4.0),
    ("嬲", -2.5),
    ("死了", -2.0),
    ("危險", -2.5),
    ("白等", -2.0),
    ("沒人接", -1.5),
    ("沒人回", -1.5),
    ("不回", -1.5),
    ("沒回音", -2.0),
    ("沒下文", -2.0),
    ("沒動靜", -1.0),
    ("亂扣", -2.5),
    ("膨脹", -1.5),
    ("到底有沒有", -2.5),
    ("有沒有在", -1.5),
    ("要我怎樣", -3.0),
    ("要我怎麼樣", -3.0),
    ("誰給你們", -3.0),
    ("這就是你們", -2.5),
    ("負責", -1.0),
    ("ridiculous", -3.0),
    ("unacceptable", -3.0),
    ("what the hell", -3.5),
    ("wth", -3.0),
    ("wtf", -3.5),
];

const INTENSIFIERS: &[(&str, f32)] = &[
    ("超級", 1.8),
    ("非常", 1.6),
    ("十分", 1.5),
    ("真的", 1.3),
    ("特別", 1.4),
    ("有夠", 1.8),
    ("極度", 1.8),
    ("超", 1.7),
    ("爆", 1.8),
    ("很", 1.3),
    ("太", 1.4),
    ("好", 1.2),
    ("最", 1.5),
    ("極", 1.6),
    ("蠻", 1.1),
];

const NEGATORS: &[&str] = &[
    "不是",
    "沒有",
    "並不",
    "並沒有",
    "不太",
    "不會",
    "不",
    "沒",
    "別",
    "未",
    "唔",
    "冇",
    "毋",
];

/// Phrases that, in a message with a complaint, turn its praise into blame.
const SARCASM: &[&str] = &[
    "真是太棒",
    "真是太好",
    "真是感謝",
    "真的是太棒",
    "好棒喔",
    "好棒棒",
    "太棒了吧",
    "真厲害",
    "真有效率",
    "感謝你們喔",
    "謝謝你們喔",
    "謝謝喔",
    "真是謝謝",
    "呵呵",
    "笑死",
    "厲害了",
    "服了",
    "佩服",
    "很棒啊",
    "真好",
    "學到了",
    "好樣的",
    "很會",
    "好棒啊",
];

fn weight_at(chars: &[char], at: usize) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (entry, w) in LEXICON {
        // Most entries fail on their first character: test it before counting.
        if !entry.starts_with(chars[at]) {
            continue;
        }
        let len = entry.chars().count();
        if at + len <= chars.len()
            && entry.chars().zip(&chars[at..]).all(|(a, b)| a == *b)
            && best.is_none_or(|(l, _)| len > l)
        {
            best = Some((len, *w));
        }
    }
    best
}

fn ends_with(chars: &[char], end: usize, word: &str) -> Option<usize> {
    let len = word.chars().count();
    (end >= len
        && word
            .chars()
            .zip(&chars[end - len..end])
            .all(|(a, b)| a == *b))
    .then_some(len)
}

/// The sentiment score of a normalised text, in [−1, 1].
pub fn score(normalized: &str, flags: &[Urgency]) -> f32 {
    let chars: Vec<char> = normalized.chars().collect();
    let mut positive = 0.0_f32;
    let mut negative = 0.0_f32;
    let mut i = 0;
    while i < chars.len() {
        let Some((len, w)) = weight_at(&chars, i) else {
            i += 1;
            continue;
        };
        let mut w = w;
        let mut end = i;
        // An intensifier right before (好棒 is an entry itself, so 好 here is 好+entry).
        if let Some((l, m)) = INTENSIFIERS
            .iter()
            .find_map(|(word, m)| ends_with(&chars, end, word).map(|l| (l, *m)))
        {
            w *= m;
            end -= l;
        }
        if NEGATORS.iter().any(|n| ends_with(&chars, end, n).is_some()) {
            // Negated praise is a complaint; negated complaint is faint praise.
            w = if w > 0.0 { -0.8 * w } else { -0.4 * w };
        }
        if w > 0.0 {
            positive += w;
        } else {
            negative += w;
        }
        i += len;
    }
    // Polite words around a strong complaint do not soften it (「…爛透了，謝謝」).
    if negative <= -3.0 {
        positive *= 0.3;
    }
    let compact: String = chars.iter().filter(|c| **c != ' ').collect();
    if negative < 0.0 && SARCASM.iter().any(|s| compact.contains(s)) {
        negative -= positive + 1.0;
        positive = 0.0;
    }
    // Shouting: ！！ and ？？ runs (in the raw text they became boundaries; count them there).
    let mut sum = positive + negative;
    for flag in flags {
        sum -= match flag {
            Urgency::Safety => 3.0,
            Urgency::LegalThreat | Urgency::ConsumerAgency | Urgency::Media => 4.0,
        };
    }
    sum / (sum.abs() + 2.0)
}

/// The longest run of `!`/`！` or `?`/`？` in the raw text.
fn punctuation_run(raw: &str) -> usize {
    let mut run = 0;
    let mut longest = 0;
    for c in raw.chars().take(super::model::CLASSIFY_TEXT_CHARS_MAX) {
        if matches!(c, '!' | '！' | '?' | '？') {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Shouting in the raw text: three or more `!`/`！` or `?`/`？` in a row make a message that
/// is not positive angrier.
pub fn shouting(raw: &str) -> bool {
    punctuation_run(raw) >= 3
}

/// Counting words before 次 (「第三次」, 「問了四次」, 「10次」).
fn is_count(c: char) -> bool {
    c.is_ascii_digit() || "一二兩三四五六七八九十百幾多好數".contains(c)
}

/// Verbs of asking or contacting that, with a count, make a repeat ask.
const ASK_VERBS: &[&str] = &[
    "問", "打", "寫", "反映", "催", "聯絡", "申請", "按", "寄", "講", "說", "回", "找", "來",
];

/// A customer who says they have asked again and again (「已經第三次問了」, 「打了五次電話」,
/// 「問三次都不回」, 「這是第四次寫信」): a complaint about being ignored, never a FAQ.
pub fn repeat_ask(normalized: &str) -> bool {
    let chars: Vec<char> = normalized.chars().filter(|c| *c != ' ').collect();
    chars.iter().enumerate().any(|(i, &c)| {
        if c != '次' || i == 0 || !is_count(chars[i - 1]) || chars[i - 1] == '一' {
            return false;
        }
        // 「一次」 alone is no repeat; 「十一次」 is.
        let from = i.saturating_sub(8);
        let to = (i + 6).min(chars.len());
        let around: String = chars[from..to].iter().collect();
        ASK_VERBS.iter().any(|v| around.contains(v))
    })
}

/// A rhetorical accusation: 「你們是詐騙集團嗎」, 「是在耍人嗎」 — 「是」 followed within a
/// few characters by a question particle, in a message addressed to the shop.
fn accusation(normalized: &str) -> bool {
    let chars: Vec<char> = normalized.chars().filter(|c| *c != ' ').collect();
    let addressed = normalized.contains("你們") || normalized.contains("你哋");
    addressed
        && chars.iter().enumerate().any(|(i, &c)| {
            (c == '是' || c == '係')
                && chars[i + 1..(i + 9).min(chars.len())]
                    .iter()
                    .any(|q| matches!(q, '嗎' | '咩' | '吧'))
        })
}

/// The sentiment of a message: the lexicon score, pushed further down when a negative
/// message shouts (three marks: −3, two: −1.5), repeats an ask (−2) or accuses (−1.5).
pub fn sentiment(raw: &str, normalized: &str, flags: &[Urgency]) -> f32 {
    let s = score(normalized, flags);
    if s > 0.0 {
        return s;
    }
    let mut push = match punctuation_run(raw) {
        0 | 1 => 0.0,
        2 => 1.5,
        _ => 3.0,
    };
    if repeat_ask(normalized) {
        push += 2.0;
    }
    if s < 0.0 && accusation(normalized) {
        push += 1.5;
    }
    if s == 0.0 && push < 3.0 {
        // A neutral question with 「？？」 is not yet a complaint.
        push = if repeat_ask(normalized) { 2.0 } else { 0.0 };
    }
    if push == 0.0 {
        return s;
    }
    let sum = 2.0 * s / (1.0 - s.abs()) - push;
    sum / (sum.abs() + 2.0)
}

#[cfg(test)]
#[path = "sentiment_tests.rs"]
mod tests;
