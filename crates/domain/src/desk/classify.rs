//! A first, rule-based zh-TW classifier: a message's [`Category`] and, when a frequently
//! asked question is recognised with certainty, its [`FaqIntent`]. Keywords are matched as
//! substrings (Traditional Chinese has no word spaces, and substring search needs no
//! segmentation); each category sums the weights of its keywords found, the best sum wins and
//! nothing found is `other`. FAQ intents are held to precision over recall — an automatic
//! answer must not be wrong — so a question phrase must match and no complaint word may
//! appear. A learned model (character n-grams from agents' labels) is to replace the
//! category rules; the intents stay rule-based.

use super::Category;

/// Questions the desk can answer automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaqIntent {
    WhereIsMyOrder,
    HowToReturn,
    PasswordReset,
    PointsBalance,
    StoreHours,
}

impl FaqIntent {
    pub const ALL: [FaqIntent; 5] = [
        FaqIntent::WhereIsMyOrder,
        FaqIntent::HowToReturn,
        FaqIntent::PasswordReset,
        FaqIntent::PointsBalance,
        FaqIntent::StoreHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaqIntent::WhereIsMyOrder => "where_is_my_order",
            FaqIntent::HowToReturn => "how_to_return",
            FaqIntent::PasswordReset => "password_reset",
            FaqIntent::PointsBalance => "points_balance",
            FaqIntent::StoreHours => "store_hours",
        }
    }
}

/// What [`classify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub category: Category,
    /// The winning category's share of all matched weight, in permille (0 for `other`).
    pub confidence_permille: u32,
    pub intent: Option<FaqIntent>,
}

use Category::*;

/// (keyword, category, weight). Longer, more specific phrases weigh more.
const RULES: &[(&str, Category, u32)] = &[
    ("壞掉", ProductDefect, 3),
    ("壞了", ProductDefect, 3),
    ("破損", ProductDefect, 3),
    ("瑕疵", ProductDefect, 3),
    ("故障", ProductDefect, 3),
    ("不能用", ProductDefect, 3),
    ("無法使用", ProductDefect, 2),
    ("發霉", ProductDefect, 3),
    ("過期", ProductDefect, 3),
    ("漏水", ProductDefect, 3),
    ("裂開", ProductDefect, 3),
    ("刮傷", ProductDefect, 3),
    ("異物", ProductDefect, 3),
    ("變質", ProductDefect, 3),
    ("品質", ProductDefect, 2),
    ("少了", ProductDefect, 1),
    ("態度", ServiceAttitude, 3),
    ("不耐煩", ServiceAttitude, 3),
    ("很兇", ServiceAttitude, 3),
    ("沒禮貌", ServiceAttitude, 3),
    ("不理人", ServiceAttitude, 3),
    ("愛理不理", ServiceAttitude, 3),
    ("店員", ServiceAttitude, 2),
    ("服務很差", ServiceAttitude, 3),
    ("口氣", ServiceAttitude, 2),
    ("還沒到", LogisticsDelay, 3),
    ("還沒收到", LogisticsDelay, 3),
    ("沒收到", LogisticsDelay, 2),
    ("延遲", LogisticsDelay, 3),
    ("等很久", LogisticsDelay, 2),
    ("太慢", LogisticsDelay, 2),
    ("物流", LogisticsDelay, 2),
    ("宅配", LogisticsDelay, 2),
    ("配送", LogisticsDelay, 2),
    ("黑貓", LogisticsDelay, 2),
    ("送錯", LogisticsDelay, 2),
    ("訂單狀態", OrderStatus, 4),
    ("訂單在哪", OrderStatus, 4),
    ("出貨了嗎", OrderStatus, 4),
    ("什麼時候出貨", OrderStatus, 4),
    ("查詢訂單", OrderStatus, 4),
    ("查訂單", OrderStatus, 4),
    ("訂單進度", OrderStatus, 4),
    ("退貨", ReturnRefund, 3),
    ("退款", ReturnRefund, 3),
    ("退錢", ReturnRefund, 3),
    ("換貨", ReturnRefund, 3),
    ("退費", ReturnRefund, 3),
    ("退換", ReturnRefund, 3),
    ("密碼", AccountPassword, 3),
    ("登入", AccountPassword, 3),
    ("帳號", AccountPassword, 2),
    ("驗證碼", AccountPassword, 3),
    ("註冊", AccountPassword, 2),
    ("付款", BillingPayment, 3),
    ("刷卡", BillingPayment, 3),
    ("扣款", BillingPayment, 3),
    ("發票", BillingPayment, 3),
    ("信用卡", BillingPayment, 3),
    ("多收", BillingPayment, 3),
    ("轉帳", BillingPayment, 3),
    ("line pay", BillingPayment, 3),
    ("金額", BillingPayment, 2),
    ("點數", PointsMembership, 3),
    ("會員", PointsMembership, 2),
    ("集點", PointsMembership, 3),
    ("紅利", PointsMembership, 3),
    ("積分", PointsMembership, 3),
    ("生日禮", PointsMembership, 3),
    ("等級", PointsMembership, 2),
    ("謝謝你們", Praise, 2),
    ("感謝", Praise, 2),
    ("很棒", Praise, 3),
    ("讚", Praise, 2),
    ("滿意", Praise, 2),
    ("推薦", Praise, 2),
    ("貼心", Praise, 3),
    ("好吃", Praise, 2),
    ("喜歡", Praise, 2),
    ("用心", Praise, 3),
];

/// (question phrase, intent): any one matching, with no complaint word, names the intent.
const INTENTS: &[(&str, FaqIntent)] = &[
    ("我的訂單在哪", FaqIntent::WhereIsMyOrder),
    ("訂單在哪", FaqIntent::WhereIsMyOrder),
    ("包裹在哪", FaqIntent::WhereIsMyOrder),
    ("出貨了嗎", FaqIntent::WhereIsMyOrder),
    ("什麼時候出貨", FaqIntent::WhereIsMyOrder),
    ("訂單狀態", FaqIntent::WhereIsMyOrder),
    ("查詢訂單", FaqIntent::WhereIsMyOrder),
    ("如何退貨", FaqIntent::HowToReturn),
    ("怎麼退貨", FaqIntent::HowToReturn),
    ("退貨流程", FaqIntent::HowToReturn),
    ("要怎麼退", FaqIntent::HowToReturn),
    ("密碼重置", FaqIntent::PasswordReset),
    ("重設密碼", FaqIntent::PasswordReset),
    ("重置密碼", FaqIntent::PasswordReset),
    ("忘記密碼", FaqIntent::PasswordReset),
    ("點數還有多少", FaqIntent::PointsBalance),
    ("剩多少點", FaqIntent::PointsBalance),
    ("點數餘額", FaqIntent::PointsBalance),
    ("查點數", FaqIntent::PointsBalance),
    ("營業時間", FaqIntent::StoreHours),
    ("幾點開", FaqIntent::StoreHours),
    ("幾點關", FaqIntent::StoreHours),
];

/// Words of a complaint: with one of these the message goes to a person, never to a FAQ answer.
const COMPLAINT_WORDS: &[&str] = &[
    "壞",
    "破",
    "爛",
    "生氣",
    "投訴",
    "客訴",
    "消基會",
    "退錢",
    "騙",
    "太慢",
    "很久",
    "誇張",
    "不爽",
    "失望",
    "扣款",
    "重複",
];

/// Lower-cases ASCII and drops whitespace (full-width spaces included).
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The category and FAQ intent of one message.
pub fn classify(text: &str) -> Classification {
    let text = normalize(text);
    let mut scores = [0u32; Category::ALL.len()];
    for (keyword, category, weight) in RULES {
        let keyword = keyword.replace(' ', "");
        if text.contains(&keyword) {
            scores[*category as usize] += weight;
        }
    }
    let total: u32 = scores.iter().sum();
    // Ties go to the earlier category in `Category::ALL` (the more specific complaint).
    let (best, score) =
        scores
            .iter()
            .enumerate()
            .fold((Category::Other as usize, 0), |acc, (i, &s)| {
                if s > acc.1 { (i, s) } else { acc }
            });
    let category = if score == 0 {
        Category::Other
    } else {
        Category::ALL[best]
    };
    let complaint = COMPLAINT_WORDS.iter().any(|w| text.contains(w));
    let intent = (!complaint)
        .then(|| {
            INTENTS
                .iter()
                .find(|(phrase, _)| text.contains(phrase))
                .map(|(_, intent)| *intent)
        })
        .flatten();
    Classification {
        category,
        confidence_permille: (score * 1000).checked_div(total).unwrap_or(0),
        intent,
    }
}

#[cfg(test)]
mod tests;
