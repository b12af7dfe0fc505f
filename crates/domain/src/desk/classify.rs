//! Classification of a desk message: its [`Category`], and when a frequently asked question
//! is recognised with certainty, its [`FaqIntent`]; with its sentiment and urgency flags
//! ([`sentiment`]).
//!
//! Two layers. The keyword rules below match substrings (Traditional Chinese has no word
//! spaces, and substring search needs no segmentation); alone, [`classify`] sums each
//! category's keyword weights and the best sum wins. The learned [`Classifier`] ([`model`]:
//! character n-grams into a logistic regression trained on agents' labels) takes those rule
//! scores as features, so a shop's own labels can outweigh a keyword and a keyword still
//! helps on words the training texts never had.
//!
//! FAQ intents are held to precision over recall — an automatic answer must not be wrong:
//! an intent is named only when a question phrase (or a confident intent model) points to
//! it, the category agrees with it, the category is confident, the message is not negative,
//! carries no urgency flag, no complaint word, no repeat ask (「已經第三次問了」) and no
//! impatient 「？？」 or 「！！」. Otherwise the message goes to a person.

pub mod model;
pub mod sentiment;

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

    pub fn parse(s: &str) -> Option<FaqIntent> {
        FaqIntent::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// The category a message asking this question belongs to.
    pub fn category(self) -> Category {
        match self {
            FaqIntent::WhereIsMyOrder => Category::OrderStatus,
            FaqIntent::HowToReturn => Category::ReturnRefund,
            FaqIntent::PasswordReset => Category::AccountPassword,
            FaqIntent::PointsBalance => Category::PointsMembership,
            FaqIntent::StoreHours => Category::Other,
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

/// (keyword, category, weight). Longer, more specific phrases weigh more. Matched on the
/// normalised text without spaces (so `line pay` matches `LINE Pay` and `linepay`).
const RULES: &[(&str, Category, u32)] = &[
    ("壞掉", ProductDefect, 3),
    ("壞了", ProductDefect, 3),
    ("壞的", ProductDefect, 3),
    ("破損", ProductDefect, 3),
    ("瑕疵", ProductDefect, 3),
    ("故障", ProductDefect, 3),
    ("不能用", ProductDefect, 3),
    ("無法使用", ProductDefect, 2),
    ("發霉", ProductDefect, 3),
    ("過期", ProductDefect, 3),
    ("漏水", ProductDefect, 3),
    ("裂開", ProductDefect, 3),
    ("裂", ProductDefect, 2),
    ("刮傷", ProductDefect, 3),
    ("刮痕", ProductDefect, 3),
    ("異物", ProductDefect, 3),
    ("變質", ProductDefect, 3),
    ("品質", ProductDefect, 2),
    ("少了", ProductDefect, 1),
    ("缺", ProductDefect, 1),
    ("斷", ProductDefect, 2),
    ("不亮", ProductDefect, 3),
    ("不會動", ProductDefect, 3),
    ("沒聲音", ProductDefect, 3),
    ("沒有聲音", ProductDefect, 3),
    ("充不", ProductDefect, 3),
    ("鬆", ProductDefect, 2),
    ("卡紙", ProductDefect, 3),
    ("酸", ProductDefect, 2),
    ("臭", ProductDefect, 1),
    ("漏", ProductDefect, 2),
    ("凹", ProductDefect, 2),
    ("破", ProductDefect, 2),
    ("變形", ProductDefect, 3),
    ("掉漆", ProductDefect, 3),
    ("脫線", ProductDefect, 3),
    ("開膠", ProductDefect, 3),
    ("褪色", ProductDefect, 3),
    ("失靈", ProductDefect, 3),
    ("異音", ProductDefect, 3),
    ("聲音大", ProductDefect, 2),
    ("不熱", ProductDefect, 3),
    ("不冷", ProductDefect, 3),
    ("吸力", ProductDefect, 2),
    ("沒反應", ProductDefect, 2),
    ("跳電", ProductDefect, 3),
    ("冒煙", ProductDefect, 3),
    ("焦味", ProductDefect, 3),
    ("蟲", ProductDefect, 2),
    ("怪味", ProductDefect, 2),
    ("味道怪", ProductDefect, 2),
    ("化學味", ProductDefect, 2),
    ("霉", ProductDefect, 2),
    ("接觸不良", ProductDefect, 3),
    ("縫線", ProductDefect, 2),
    ("線頭", ProductDefect, 2),
    ("污漬", ProductDefect, 3),
    ("不保溫", ProductDefect, 3),
    ("壓扁", ProductDefect, 2),
    ("膨脹", ProductDefect, 3),
    ("拉肚子", ProductDefect, 3),
    ("吃了", ProductDefect, 1),
    ("閃退", ProductDefect, 1),
    ("零件", ProductDefect, 2),
    ("螺絲", ProductDefect, 2),
    ("尺寸不對", ProductDefect, 1),
    ("一直停", ProductDefect, 2),
    ("停了", ProductDefect, 2),
    ("沒彈性", ProductDefect, 3),
    ("不能", ProductDefect, 1),
    ("弱", ProductDefect, 1),
    ("對不上", ProductDefect, 2),
    ("態度", ServiceAttitude, 4),
    ("不耐煩", ServiceAttitude, 3),
    ("很兇", ServiceAttitude, 3),
    ("兇", ServiceAttitude, 2),
    ("沒禮貌", ServiceAttitude, 3),
    ("不禮貌", ServiceAttitude, 3),
    ("無禮", ServiceAttitude, 3),
    ("不理人", ServiceAttitude, 3),
    ("不理", ServiceAttitude, 2),
    ("愛理不理", ServiceAttitude, 3),
    ("店員", ServiceAttitude, 2),
    ("服務很差", ServiceAttitude, 3),
    ("口氣", ServiceAttitude, 3),
    ("語氣", ServiceAttitude, 3),
    ("吼", ServiceAttitude, 3),
    ("罵", ServiceAttitude, 3),
    ("臭臉", ServiceAttitude, 3),
    ("翻白眼", ServiceAttitude, 3),
    ("敷衍", ServiceAttitude, 2),
    ("推卸", ServiceAttitude, 3),
    ("掛電話", ServiceAttitude, 3),
    ("掛斷", ServiceAttitude, 3),
    ("不友善", ServiceAttitude, 3),
    ("冷淡", ServiceAttitude, 2),
    ("冷冰冰", ServiceAttitude, 3),
    ("歧視", ServiceAttitude, 3),
    ("嘲笑", ServiceAttitude, 3),
    ("打官腔", ServiceAttitude, 3),
    ("轉接", ServiceAttitude, 2),
    ("嫌煩", ServiceAttitude, 3),
    ("客服人員", ServiceAttitude, 1),
    ("專員", ServiceAttitude, 1),
    ("服務人員", ServiceAttitude, 2),
    ("售貨員", ServiceAttitude, 2),
    ("收銀", ServiceAttitude, 2),
    ("專櫃", ServiceAttitude, 2),
    ("員工", ServiceAttitude, 2),
    ("店長", ServiceAttitude, 1),
    ("主管", ServiceAttitude, 1),
    ("已讀不回", ServiceAttitude, 3),
    ("推銷", ServiceAttitude, 2),
    ("不客氣", ServiceAttitude, 3),
    ("不尊重", ServiceAttitude, 3),
    ("羞辱", ServiceAttitude, 3),
    ("碎碎念", ServiceAttitude, 3),
    ("粗魯", ServiceAttitude, 3),
    ("大聲", ServiceAttitude, 2),
    ("笑容", ServiceAttitude, 2),
    ("招呼", ServiceAttitude, 2),
    ("服務態度", ServiceAttitude, 4),
    ("客服", ServiceAttitude, 1),
    ("還沒到", LogisticsDelay, 3),
    ("還沒收到", LogisticsDelay, 3),
    ("沒收到", LogisticsDelay, 2),
    ("還沒送", LogisticsDelay, 3),
    ("沒送到", LogisticsDelay, 3),
    ("沒來", LogisticsDelay, 2),
    ("延遲", LogisticsDelay, 3),
    ("延誤", LogisticsDelay, 3),
    ("延後", LogisticsDelay, 3),
    ("一延再延", LogisticsDelay, 4),
    ("拖", LogisticsDelay, 2),
    ("等很久", LogisticsDelay, 2),
    ("太慢", LogisticsDelay, 2),
    ("很慢", LogisticsDelay, 2),
    ("好慢", LogisticsDelay, 2),
    ("物流", LogisticsDelay, 2),
    ("宅配", LogisticsDelay, 2),
    ("配送", LogisticsDelay, 2),
    ("運送", LogisticsDelay, 2),
    ("貨運", LogisticsDelay, 3),
    ("送貨", LogisticsDelay, 2),
    ("黑貓", LogisticsDelay, 3),
    ("宅急便", LogisticsDelay, 3),
    ("新竹物流", LogisticsDelay, 3),
    ("郵差", LogisticsDelay, 3),
    ("郵局", LogisticsDelay, 2),
    ("超商", LogisticsDelay, 1),
    ("取貨", LogisticsDelay, 1),
    ("轉運", LogisticsDelay, 3),
    ("到貨", LogisticsDelay, 2),
    ("送達", LogisticsDelay, 2),
    ("送到", LogisticsDelay, 2),
    ("送來", LogisticsDelay, 2),
    ("送錯", LogisticsDelay, 3),
    ("派送", LogisticsDelay, 3),
    ("配達", LogisticsDelay, 3),
    ("寄到", LogisticsDelay, 1),
    ("包裹", LogisticsDelay, 1),
    ("快遞", LogisticsDelay, 3),
    ("司機", LogisticsDelay, 2),
    ("物流士", LogisticsDelay, 3),
    ("集貨", LogisticsDelay, 3),
    ("在路上", LogisticsDelay, 3),
    ("卡在", LogisticsDelay, 2),
    ("遲", LogisticsDelay, 2),
    ("未收到", LogisticsDelay, 3),
    ("還在路上", LogisticsDelay, 3),
    ("訂單狀態", OrderStatus, 4),
    ("訂單在哪", OrderStatus, 4),
    ("出貨了嗎", OrderStatus, 4),
    ("什麼時候出貨", OrderStatus, 4),
    ("何時出貨", OrderStatus, 4),
    ("查詢訂單", OrderStatus, 4),
    ("查訂單", OrderStatus, 4),
    ("訂單進度", OrderStatus, 4),
    ("出貨進度", OrderStatus, 4),
    ("寄出了嗎", OrderStatus, 4),
    ("寄出了沒", OrderStatus, 4),
    ("出貨了沒", OrderStatus, 4),
    ("何時寄出", OrderStatus, 4),
    ("什麼時候會寄出", OrderStatus, 4),
    ("追蹤號碼", OrderStatus, 3),
    ("追蹤碼", OrderStatus, 3),
    ("單號", OrderStatus, 2),
    ("處理到哪", OrderStatus, 4),
    ("到哪了", OrderStatus, 3),
    ("到哪裡了", OrderStatus, 3),
    ("出貨沒", OrderStatus, 4),
    ("寄了沒", OrderStatus, 4),
    ("出貨", OrderStatus, 1),
    ("訂單", OrderStatus, 1),
    ("下單", OrderStatus, 1),
    ("order", OrderStatus, 2),
    ("退貨", ReturnRefund, 3),
    ("退款", ReturnRefund, 3),
    ("退錢", ReturnRefund, 3),
    ("換貨", ReturnRefund, 3),
    ("退費", ReturnRefund, 3),
    ("退換", ReturnRefund, 3),
    ("退回", ReturnRefund, 2),
    ("退掉", ReturnRefund, 3),
    ("換一", ReturnRefund, 2),
    ("換成", ReturnRefund, 2),
    ("換大", ReturnRefund, 2),
    ("換小", ReturnRefund, 2),
    ("換別", ReturnRefund, 2),
    ("鑑賞期", ReturnRefund, 3),
    ("退還", ReturnRefund, 3),
    ("退", ReturnRefund, 1),
    ("換", ReturnRefund, 1),
    ("return", ReturnRefund, 2),
    ("refund", ReturnRefund, 3),
    ("密碼", AccountPassword, 3),
    ("登入", AccountPassword, 3),
    ("登不", AccountPassword, 3),
    ("帳號", AccountPassword, 2),
    ("帳戶", AccountPassword, 2),
    ("驗證", AccountPassword, 3),
    ("註冊", AccountPassword, 2),
    ("註銷", AccountPassword, 3),
    ("綁定", AccountPassword, 2),
    ("信箱", AccountPassword, 1),
    ("簡訊", AccountPassword, 2),
    ("盜用", AccountPassword, 3),
    ("被駭", AccountPassword, 3),
    ("登出", AccountPassword, 2),
    ("停用", AccountPassword, 2),
    ("凍結", AccountPassword, 3),
    ("鎖住", AccountPassword, 3),
    ("被鎖", AccountPassword, 3),
    ("password", AccountPassword, 3),
    ("login", AccountPassword, 3),
    ("app", AccountPassword, 1),
    ("email", AccountPassword, 1),
    ("付款", BillingPayment, 3),
    ("刷卡", BillingPayment, 3),
    ("刷了", BillingPayment, 3),
    ("扣款", BillingPayment, 3),
    ("被扣", BillingPayment, 2),
    ("扣了", BillingPayment, 2),
    ("發票", BillingPayment, 3),
    ("信用卡", BillingPayment, 3),
    ("多收", BillingPayment, 3),
    ("轉帳", BillingPayment, 3),
    ("line pay", BillingPayment, 3),
    ("金額", BillingPayment, 2),
    ("手續費", BillingPayment, 3),
    ("服務費", BillingPayment, 2),
    ("運費", BillingPayment, 2),
    ("找零", BillingPayment, 3),
    ("找錢", BillingPayment, 3),
    ("收據", BillingPayment, 3),
    ("統編", BillingPayment, 3),
    ("統一編號", BillingPayment, 3),
    ("分期", BillingPayment, 3),
    ("付", BillingPayment, 1),
    ("悠遊付", BillingPayment, 3),
    ("街口", BillingPayment, 3),
    ("apple pay", BillingPayment, 3),
    ("外幣", BillingPayment, 2),
    ("現金", BillingPayment, 2),
    ("帳單", BillingPayment, 3),
    ("優惠碼", BillingPayment, 2),
    ("折扣碼", BillingPayment, 2),
    ("折價券", BillingPayment, 2),
    ("盜刷", BillingPayment, 3),
    ("收費", BillingPayment, 2),
    ("費用", BillingPayment, 2),
    ("價格", BillingPayment, 1),
    ("結帳", BillingPayment, 2),
    ("支付", BillingPayment, 3),
    ("繳費", BillingPayment, 3),
    ("支票", BillingPayment, 3),
    ("禮券", BillingPayment, 2),
    ("載具", BillingPayment, 3),
    ("payment", BillingPayment, 3),
    ("點數", PointsMembership, 3),
    ("會員", PointsMembership, 2),
    ("集點", PointsMembership, 3),
    ("紅利", PointsMembership, 3),
    ("積分", PointsMembership, 3),
    ("生日禮", PointsMembership, 3),
    ("等級", PointsMembership, 2),
    ("升級", PointsMembership, 2),
    ("降級", PointsMembership, 2),
    ("升等", PointsMembership, 2),
    ("金卡", PointsMembership, 2),
    ("白金", PointsMembership, 2),
    ("vip", PointsMembership, 2),
    ("兌換", PointsMembership, 2),
    ("會員卡", PointsMembership, 3),
    ("入會", PointsMembership, 3),
    ("會員日", PointsMembership, 3),
    ("普卡", PointsMembership, 3),
    ("points", PointsMembership, 3),
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
    ("專業", Praise, 2),
    ("親切", Praise, 3),
    ("耐心", Praise, 2),
    ("五顆星", Praise, 3),
    ("一百分", Praise, 3),
    ("回購", Praise, 3),
    ("很好", Praise, 2),
    ("好穿", Praise, 3),
    ("好用", Praise, 2),
    ("開心", Praise, 2),
    ("精美", Praise, 2),
    ("溫暖", Praise, 2),
    ("窩心", Praise, 3),
    ("感動", Praise, 3),
    ("大推", Praise, 3),
    ("驚喜", Praise, 3),
    ("放心", Praise, 2),
    ("辛苦了", Praise, 2),
    ("周到", Praise, 3),
    ("熱心", Praise, 3),
    ("請問", Other, 1),
    ("有賣", Other, 2),
    ("門市在哪", Other, 3),
    ("營業", Other, 3),
    ("停車", Other, 3),
    ("加盟", Other, 3),
    ("合作", Other, 3),
    ("徵人", Other, 3),
    ("實習", Other, 3),
    ("補貨", Other, 3),
    ("保固", Other, 3),
    ("預約", Other, 3),
    ("幾點", Other, 2),
    ("型錄", Other, 3),
    ("禮盒", Other, 1),
    ("現貨", Other, 3),
    ("適合", Other, 2),
    ("產地", Other, 3),
    ("成分", Other, 3),
    ("說明書", Other, 3),
    ("參觀", Other, 3),
    ("寵物", Other, 3),
    ("代訂", Other, 3),
    ("二手", Other, 3),
    ("禮品卡", Other, 3),
];

/// (question phrase, intent), matched on the normalised text without spaces: any one names a
/// candidate intent, which still has to pass the checks in [`Classifier::analyse`].
const INTENTS: &[(&str, FaqIntent)] = &[
    ("我的訂單在哪", FaqIntent::WhereIsMyOrder),
    ("訂單在哪", FaqIntent::WhereIsMyOrder),
    ("包裹在哪", FaqIntent::WhereIsMyOrder),
    ("出貨了嗎", FaqIntent::WhereIsMyOrder),
    ("什麼時候出貨", FaqIntent::WhereIsMyOrder),
    ("訂單狀態", FaqIntent::WhereIsMyOrder),
    ("查詢訂單", FaqIntent::WhereIsMyOrder),
    ("訂單進度", FaqIntent::WhereIsMyOrder),
    ("出貨進度", FaqIntent::WhereIsMyOrder),
    ("寄出了嗎", FaqIntent::WhereIsMyOrder),
    ("寄出了沒", FaqIntent::WhereIsMyOrder),
    ("出貨了沒", FaqIntent::WhereIsMyOrder),
    ("出貨沒", FaqIntent::WhereIsMyOrder),
    ("貨出了嗎", FaqIntent::WhereIsMyOrder),
    ("寄了沒", FaqIntent::WhereIsMyOrder),
    ("到哪了", FaqIntent::WhereIsMyOrder),
    ("到哪裡了", FaqIntent::WhereIsMyOrder),
    ("何時出貨", FaqIntent::WhereIsMyOrder),
    ("何時寄出", FaqIntent::WhereIsMyOrder),
    ("什麼時候寄出", FaqIntent::WhereIsMyOrder),
    ("什麼時候會寄出", FaqIntent::WhereIsMyOrder),
    ("查一下訂單", FaqIntent::WhereIsMyOrder),
    ("查一下我的訂單", FaqIntent::WhereIsMyOrder),
    ("查訂單", FaqIntent::WhereIsMyOrder),
    ("追蹤號碼", FaqIntent::WhereIsMyOrder),
    ("追蹤碼", FaqIntent::WhereIsMyOrder),
    ("物流單號", FaqIntent::WhereIsMyOrder),
    ("處理到哪", FaqIntent::WhereIsMyOrder),
    ("訂單去到邊", FaqIntent::WhereIsMyOrder),
    ("查包裹", FaqIntent::WhereIsMyOrder),
    ("包裹位置", FaqIntent::WhereIsMyOrder),
    ("有沒有出貨", FaqIntent::WhereIsMyOrder),
    ("出貨狀況", FaqIntent::WhereIsMyOrder),
    ("寄送狀況", FaqIntent::WhereIsMyOrder),
    ("追蹤我的訂單", FaqIntent::WhereIsMyOrder),
    ("追蹤一下我的訂單", FaqIntent::WhereIsMyOrder),
    ("whereismyorder", FaqIntent::WhereIsMyOrder),
    ("orderstatus", FaqIntent::WhereIsMyOrder),
    ("跟進一下我嘅訂單", FaqIntent::WhereIsMyOrder),
    ("出貨日期", FaqIntent::WhereIsMyOrder),
    ("如何退貨", FaqIntent::HowToReturn),
    ("怎麼退貨", FaqIntent::HowToReturn),
    ("退貨流程", FaqIntent::HowToReturn),
    ("要怎麼退", FaqIntent::HowToReturn),
    ("退貨的步驟", FaqIntent::HowToReturn),
    ("退貨步驟", FaqIntent::HowToReturn),
    ("退貨方式", FaqIntent::HowToReturn),
    ("退貨規定", FaqIntent::HowToReturn),
    ("退貨的規定", FaqIntent::HowToReturn),
    ("退換貨的規定", FaqIntent::HowToReturn),
    ("辦退貨", FaqIntent::HowToReturn),
    ("點樣退貨", FaqIntent::HowToReturn),
    ("點樣申請退貨", FaqIntent::HowToReturn),
    ("howtoreturn", FaqIntent::HowToReturn),
    ("退貨地址", FaqIntent::HowToReturn),
    ("退貨期限", FaqIntent::HowToReturn),
    ("退貨的期限", FaqIntent::HowToReturn),
    ("可以退貨嗎", FaqIntent::HowToReturn),
    ("怎麼申請退款退貨", FaqIntent::HowToReturn),
    ("要怎麼寄回", FaqIntent::HowToReturn),
    ("密碼重置", FaqIntent::PasswordReset),
    ("重設密碼", FaqIntent::PasswordReset),
    ("重置密碼", FaqIntent::PasswordReset),
    ("忘記密碼", FaqIntent::PasswordReset),
    ("忘了密碼", FaqIntent::PasswordReset),
    ("密碼忘了", FaqIntent::PasswordReset),
    ("改密碼", FaqIntent::PasswordReset),
    ("密碼要怎麼", FaqIntent::PasswordReset),
    ("重新設定密碼", FaqIntent::PasswordReset),
    ("找回密碼", FaqIntent::PasswordReset),
    ("密碼不記得", FaqIntent::PasswordReset),
    ("不記得密碼", FaqIntent::PasswordReset),
    ("唔記得密碼", FaqIntent::PasswordReset),
    ("forgotpassword", FaqIntent::PasswordReset),
    ("resetpassword", FaqIntent::PasswordReset),
    ("密碼重設", FaqIntent::PasswordReset),
    ("密碼要在哪", FaqIntent::PasswordReset),
    ("點數還有多少", FaqIntent::PointsBalance),
    ("剩多少點", FaqIntent::PointsBalance),
    ("點數餘額", FaqIntent::PointsBalance),
    ("查點數", FaqIntent::PointsBalance),
    ("還有幾點", FaqIntent::PointsBalance),
    ("剩幾點", FaqIntent::PointsBalance),
    ("點數剩多少", FaqIntent::PointsBalance),
    ("點數還剩", FaqIntent::PointsBalance),
    ("累積幾點", FaqIntent::PointsBalance),
    ("累積的點數", FaqIntent::PointsBalance),
    ("點數查詢", FaqIntent::PointsBalance),
    ("查一下點數", FaqIntent::PointsBalance),
    ("目前點數", FaqIntent::PointsBalance),
    ("目前累積", FaqIntent::PointsBalance),
    ("查會員點數", FaqIntent::PointsBalance),
    ("還有多少點", FaqIntent::PointsBalance),
    ("多少紅利", FaqIntent::PointsBalance),
    ("howmanypoints", FaqIntent::PointsBalance),
    ("剩返幾多", FaqIntent::PointsBalance),
    ("仲有幾多", FaqIntent::PointsBalance),
    ("查一下積分", FaqIntent::PointsBalance),
    ("查詢積分", FaqIntent::PointsBalance),
    ("營業時間", FaqIntent::StoreHours),
    ("幾點開", FaqIntent::StoreHours),
    ("幾點關", FaqIntent::StoreHours),
    ("幾點營業", FaqIntent::StoreHours),
    ("幾點打烊", FaqIntent::StoreHours),
    ("開到幾點", FaqIntent::StoreHours),
    ("營業到幾點", FaqIntent::StoreHours),
    ("有營業嗎", FaqIntent::StoreHours),
    ("有開嗎", FaqIntent::StoreHours),
    ("有開門嗎", FaqIntent::StoreHours),
    ("有沒有營業", FaqIntent::StoreHours),
    ("公休", FaqIntent::StoreHours),
    ("幾點到幾點", FaqIntent::StoreHours),
    ("whattimedoyouopen", FaqIntent::StoreHours),
    ("openinghours", FaqIntent::StoreHours),
    ("開唔開", FaqIntent::StoreHours),
    ("幾點開門", FaqIntent::StoreHours),
    ("中午有休息", FaqIntent::StoreHours),
    ("營業嗎", FaqIntent::StoreHours),
    ("店面幾點", FaqIntent::StoreHours),
];

/// Words of a complaint: with one of these the message goes to a person, never to a FAQ answer.
const COMPLAINT_WORDS: &[&str] = &[
    "壞",
    "破",
    "爛",
    "生氣",
    "投訴",
    "客訴",
    "退錢",
    "騙",
    "太慢",
    "很久",
    "好久",
    "誇張",
    "不爽",
    "失望",
    "扣款",
    "重複",
    "還沒收到",
    "沒收到",
    "等了",
    "沒人",
    "拖",
    "不見",
    "錯",
    "失敗",
    "不了",
    "不能",
    "無法",
    "一直",
    "被",
    "盜",
    "瑕疵",
    "故障",
    "登不",
    "進不去",
    "已經",
];

/// The normalised text without phrase boundaries, for keyword matching.
fn compact(normalized: &str) -> String {
    normalized.chars().filter(|c| *c != ' ').collect()
}

/// Each category's summed keyword weight in a compact text, in [`Category::ALL`] order.
pub fn rule_scores(compact: &str) -> [u32; Category::ALL.len()] {
    let mut scores = [0u32; Category::ALL.len()];
    for (keyword, category, weight) in RULES {
        if compact.contains(&keyword.replace(' ', "")) {
            scores[*category as usize] += weight;
        }
    }
    scores
}

/// The first question phrase found in a compact text.
fn rule_intent(compact: &str) -> Option<FaqIntent> {
    INTENTS
        .iter()
        .find(|(phrase, _)| compact.contains(phrase))
        .map(|(_, intent)| *intent)
}

/// 「？？」 or 「！！」: an impatient question, for a person rather than a FAQ answer.
fn insistent(raw: &str) -> bool {
    let mut previous = None;
    raw.chars().take(model::CLASSIFY_TEXT_CHARS_MAX).any(|c| {
        let mark = matches!(c, '!' | '！' | '?' | '？');
        let twice = mark && previous.is_some_and(|p: char| matches!(p, '!' | '！' | '?' | '？'));
        previous = Some(c);
        twice
    })
}

fn has_complaint_word(compact: &str) -> bool {
    COMPLAINT_WORDS.iter().any(|w| compact.contains(w))
}

/// The category and FAQ intent of one message by the keyword rules alone.
pub fn classify(text: &str) -> Classification {
    let text = compact(&model::normalize(text));
    let scores = rule_scores(&text);
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
    let intent = (!has_complaint_word(&text))
        .then(|| rule_intent(&text))
        .flatten();
    Classification {
        category,
        confidence_permille: (score * 1000).checked_div(total).unwrap_or(0),
        intent,
    }
}

/// Dense features after the n-grams: the rule score of each category, then one per intent
/// whose question phrase is present.
pub const RULE_FEATURES: usize = Category::ALL.len() + FaqIntent::ALL.len() + 2;

/// The rule features of a text whose sentiment score is `sentiment`: praise is positive and
/// complaints negative, so the score helps tell 「店員很親切」 from 「店員很兇」.
fn rule_features(compact: &str, sentiment: f32) -> Vec<f32> {
    let mut out: Vec<f32> = rule_scores(compact)
        .iter()
        .map(|&s| s.min(6) as f32 / 3.0)
        .collect();
    let intent = rule_intent(compact);
    out.extend(
        FaqIntent::ALL
            .iter()
            .map(|i| if intent == Some(*i) { 1.0 } else { 0.0 }),
    );
    out.push(2.0 * sentiment.max(0.0));
    out.push(2.0 * (-sentiment).max(0.0));
    out
}

/// The text the classifier reads: the subject (when there is one) and the body.
fn message_text(subject: Option<&str>, body: &str) -> String {
    match subject {
        Some(s) if !s.trim().is_empty() => format!("{s}\n{body}"),
        _ => body.to_owned(),
    }
}

/// A labelled message to learn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub subject: Option<String>,
    pub text: String,
    pub category: Category,
    pub intent: Option<FaqIntent>,
}

/// Smallest category probability at which a FAQ intent may be named.
pub const INTENT_CATEGORY_CONFIDENCE_MIN: f32 = 0.5;
/// Smallest intent-model probability at which it names an intent without a question phrase.
pub const INTENT_MODEL_CONFIDENCE_MIN: f32 = 0.85;
/// Label of "no FAQ intent" in the intent model.
const NO_INTENT: &str = "none";

/// What [`Classifier::analyse`] found in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub category: Category,
    /// The category's probability, in [0, 1].
    pub confidence: f32,
    /// Named only when certain enough for an automatic answer.
    pub intent: Option<FaqIntent>,
    /// The intent model's probability of the named intent (0 when none).
    pub intent_confidence: f32,
    /// In [−1, 1].
    pub sentiment: f32,
    pub urgency: Vec<sentiment::Urgency>,
}

impl Analysis {
    pub fn sentiment_label(&self) -> sentiment::SentimentLabel {
        sentiment::SentimentLabel::of(self.sentiment)
    }
}

/// The learned classifier: a category model and a FAQ-intent model over the same features.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    pub category: model::SoftmaxModel,
    pub intent: model::SoftmaxModel,
}

impl Classifier {
    /// Trains both models on labelled messages (deterministic: same examples, same model).
    pub fn train(examples: &[Example]) -> Result<Classifier, model::ModelError> {
        let prepared: Vec<(String, Vec<f32>)> = examples
            .iter()
            .map(|e| {
                let normalized = model::normalize(&message_text(e.subject.as_deref(), &e.text));
                let raw = message_text(e.subject.as_deref(), &e.text);
                let urgency = sentiment::urgency(&normalized);
                let score = sentiment::sentiment(&raw, &normalized, &urgency);
                let extra = rule_features(&compact(&normalized), score);
                (normalized, extra)
            })
            .collect();
        let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        let mut intents: Vec<&str> = vec![NO_INTENT];
        intents.extend(FaqIntent::ALL.iter().map(|i| i.as_str()));
        let texts = |label: &dyn Fn(&Example) -> usize| -> Vec<model::TrainingText> {
            examples
                .iter()
                .zip(&prepared)
                .map(|(e, (normalized, extra))| model::TrainingText {
                    normalized: normalized.clone(),
                    extra: extra.clone(),
                    label: label(e),
                })
                .collect()
        };
        let category = model::train(
            &categories,
            RULE_FEATURES,
            &texts(&|e: &Example| e.category as usize),
        )?;
        let intent = model::train(
            &intents,
            RULE_FEATURES,
            &texts(&|e: &Example| e.intent.map_or(0, |i| i as usize + 1)),
        )?;
        Ok(Classifier { category, intent })
    }

    /// Checks that stored models fit this code's labels and features.
    pub fn from_models(
        category: model::SoftmaxModel,
        intent: model::SoftmaxModel,
    ) -> Result<Classifier, model::ModelError> {
        let categories_ok = category.labels.len() == Category::ALL.len()
            && category
                .labels
                .iter()
                .zip(Category::ALL)
                .all(|(l, c)| l == c.as_str());
        let intents_ok = intent.labels.len() == FaqIntent::ALL.len() + 1
            && intent.labels[0] == NO_INTENT
            && intent.labels[1..]
                .iter()
                .zip(FaqIntent::ALL)
                .all(|(l, i)| l == i.as_str());
        if !categories_ok
            || !intents_ok
            || category.extra != RULE_FEATURES
            || intent.extra != RULE_FEATURES
        {
            return Err(model::ModelError::Shape {
                weights: category.weights.len(),
                expected: (category.vocabulary.len() + RULE_FEATURES) * Category::ALL.len(),
            });
        }
        Ok(Classifier { category, intent })
    }

    /// Category, confidence, FAQ intent (only when safe to answer automatically), sentiment
    /// and urgency of a message. Total: any text gives an answer, in time linear in at most
    /// [`model::CLASSIFY_TEXT_CHARS_MAX`] characters.
    pub fn analyse(&self, subject: Option<&str>, body: &str) -> Analysis {
        let raw = message_text(subject, body);
        let normalized = model::normalize(&raw);
        let compact = compact(&normalized);
        let urgency = sentiment::urgency(&normalized);
        let sentiment = sentiment::sentiment(&raw, &normalized, &urgency);
        let extra = rule_features(&compact, sentiment);
        let features = self.category.features(&normalized, &extra);
        let p = self.category.probabilities(&features);
        let (best, confidence) = p.iter().copied().enumerate().fold(
            (Category::Other as usize, f32::MIN),
            |acc, (i, q)| {
                if q > acc.1 { (i, q) } else { acc }
            },
        );
        let category = Category::ALL[best.min(Category::ALL.len() - 1)];
        let intent_p = self
            .intent
            .probabilities(&self.intent.features(&normalized, &extra));
        let model_intent =
            intent_p
                .iter()
                .copied()
                .enumerate()
                .skip(1)
                .fold(
                    (0, 0.0_f32),
                    |acc, (i, q)| if q > acc.1 { (i, q) } else { acc },
                );
        let candidate = rule_intent(&compact).or_else(|| {
            (model_intent.1 >= INTENT_MODEL_CONFIDENCE_MIN)
                .then(|| FaqIntent::ALL[model_intent.0 - 1])
        });
        let intent = candidate.filter(|i| {
            i.category() == category
                && confidence >= INTENT_CATEGORY_CONFIDENCE_MIN
                && sentiment >= sentiment::NEGATIVE_MAX
                && urgency.is_empty()
                && !has_complaint_word(&compact)
                && !sentiment::repeat_ask(&normalized)
                && !insistent(&raw)
        });
        let intent_confidence = intent.map_or(0.0, |i| intent_p[i as usize + 1]);
        Analysis {
            category,
            confidence: confidence.clamp(0.0, 1.0),
            intent,
            intent_confidence,
            sentiment: sentiment.clamp(-1.0, 1.0),
            urgency,
        }
    }
}

#[cfg(test)]
mod tests;
