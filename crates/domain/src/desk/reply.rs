//! Replies: the variables a reply template may use, Chinese and English honorifics, the
//! built-in templates (zh-TW and en) and how many points of compensation each role may give.
//!
//! The built-in templates follow the source article's five-part reply — thanks and
//! empathy, apology, what we found, the solution (with any compensation), follow-up and
//! thanks again — for its three complaint examples (product defect, service attitude,
//! logistics delay) and its three automatic replies (acknowledgement with a reference
//! number, FAQ answer, order status). The wording is ours. Each template is a greeting
//! line, five paragraphs separated by blank lines, and a sign-off line.
//!
//! Honorifics (chosen, and documented here because a wrong one offends): with a known title
//! and family name, `王先生` / `王小姐` / `王經理`; with a name but no title, `王顧客` — neutral,
//! never a guessed gender; with no name, `親愛的顧客`. In English: `Mr Wang` / `Ms Wang` /
//! `Manager Wang`, the name as given without a title, `customer` without a name.

use crate::access::Role;
use crate::customer::Locale;
use crate::template::{Schema, VarKind};

/// Points an agent may give as compensation on one request; more needs a manager.
pub const COMPENSATION_POINTS_AGENT_MAX: i64 = 500;
/// Points anyone may give as compensation on one request.
pub const COMPENSATION_POINTS_MAX: i64 = 100_000;

/// Every variable a reply template may use.
pub const REPLY_VARIABLES: &Schema = &[
    ("customer.honorific", VarKind::Text),
    ("customer.returning", VarKind::Flag),
    ("ticket.reference", VarKind::Text),
    ("order.known", VarKind::Flag),
    ("order.id", VarKind::Text),
    ("order.placed_on", VarKind::Text),
    ("compensation.offered", VarKind::Flag),
    ("compensation.points", VarKind::Text),
    ("faq.answer", VarKind::Text),
    ("order.amount", VarKind::Text),
    ("order.state", VarKind::Text),
    ("points.balance", VarKind::Text),
    ("account.reset_url", VarKind::Text),
    ("store.hours", VarKind::Text),
];

/// How the customer is addressed, when the desk knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Title {
    /// 先生
    Mr,
    /// 小姐
    Ms,
    /// 經理
    Manager,
}

impl Title {
    pub fn parse(s: &str) -> Option<Title> {
        match s {
            "mr" => Some(Title::Mr),
            "ms" => Some(Title::Ms),
            "manager" => Some(Title::Manager),
            _ => None,
        }
    }
}

/// Two-character family names common in Taiwan and Hong Kong.
const COMPOUND_SURNAMES: &[&str] = &[
    "歐陽", "司馬", "諸葛", "上官", "司徒", "東方", "皇甫", "張簡", "范姜", "端木", "公孫", "夏侯",
    "長孫", "慕容",
];

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// The family name of a Chinese name (`王小明` → `王`, `歐陽娜娜` → `歐陽`), or the last word of
/// a Latin one (`Amy Wang` → `Wang`).
pub fn family_name(name: &str) -> Option<String> {
    let name = name.trim();
    let first = name.chars().next()?;
    if is_cjk(first) {
        let chars: Vec<char> = name.chars().collect();
        let two: String = chars.iter().take(2).collect();
        if chars.len() >= 3 && COMPOUND_SURNAMES.contains(&two.as_str()) {
            return Some(two);
        }
        return Some(first.to_string());
    }
    name.split_whitespace().last().map(str::to_owned)
}

/// How a reply addresses the customer (see the module documentation).
pub fn honorific(name: Option<&str>, title: Option<Title>, locale: Locale) -> String {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let family = name.and_then(family_name);
    match locale {
        Locale::ZhTw | Locale::ZhHk => match (family, title) {
            (Some(f), Some(Title::Mr)) => format!("{f}先生"),
            (Some(f), Some(Title::Ms)) => format!("{f}小姐"),
            (Some(f), Some(Title::Manager)) => format!("{f}經理"),
            (Some(f), None) => format!("{f}顧客"),
            (None, _) => "親愛的顧客".to_owned(),
        },
        Locale::En => match (family, title, name) {
            (Some(f), Some(Title::Mr), _) => format!("Mr {f}"),
            (Some(f), Some(Title::Ms), _) => format!("Ms {f}"),
            (Some(f), Some(Title::Manager), _) => format!("Manager {f}"),
            (_, _, Some(n)) => n.to_owned(),
            _ => "customer".to_owned(),
        },
    }
}

/// The template locale for a customer's locale: Hong Kong customers get the Traditional
/// Chinese text until a shop stores `zh-HK` templates of its own.
pub fn template_locale(locale: Locale) -> &'static str {
    match locale {
        Locale::ZhTw | Locale::ZhHk => "zh-TW",
        Locale::En => "en",
    }
}

/// Template locales the desk knows.
pub const TEMPLATE_LOCALES: [&str; 3] = ["zh-TW", "zh-HK", "en"];

/// Keys of the built-in templates.
pub const TEMPLATE_KEYS: [&str; 11] = [
    "ack",
    "faq",
    "order_status",
    "product_defect",
    "service_attitude",
    "logistics_delay",
    "faq_where_is_my_order",
    "faq_how_to_return",
    "faq_password_reset",
    "faq_points_balance",
    "faq_store_hours",
];

/// Longest template key, in bytes.
pub const TEMPLATE_KEY_BYTES_MAX: usize = 64;

/// A template key: lower-case ASCII letters, digits and `_`, 1 to [`TEMPLATE_KEY_BYTES_MAX`].
pub fn valid_template_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= TEMPLATE_KEY_BYTES_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The built-in template for a key and template locale.
pub fn default_template(key: &str, locale: &str) -> Option<&'static str> {
    let zh = locale != "en";
    Some(match (key, zh) {
        ("ack", true) => ACK_ZH,
        ("ack", false) => ACK_EN,
        ("faq", true) => FAQ_ZH,
        ("faq", false) => FAQ_EN,
        ("order_status", true) => ORDER_STATUS_ZH,
        ("order_status", false) => ORDER_STATUS_EN,
        ("product_defect", true) => PRODUCT_DEFECT_ZH,
        ("product_defect", false) => PRODUCT_DEFECT_EN,
        ("service_attitude", true) => SERVICE_ATTITUDE_ZH,
        ("service_attitude", false) => SERVICE_ATTITUDE_EN,
        ("logistics_delay", true) => LOGISTICS_DELAY_ZH,
        ("logistics_delay", false) => LOGISTICS_DELAY_EN,
        ("faq_where_is_my_order", true) => FAQ_ORDER_ZH,
        ("faq_where_is_my_order", false) => FAQ_ORDER_EN,
        ("faq_how_to_return", true) => FAQ_RETURN_ZH,
        ("faq_how_to_return", false) => FAQ_RETURN_EN,
        ("faq_password_reset", true) => FAQ_PASSWORD_ZH,
        ("faq_password_reset", false) => FAQ_PASSWORD_EN,
        ("faq_points_balance", true) => FAQ_POINTS_ZH,
        ("faq_points_balance", false) => FAQ_POINTS_EN,
        ("faq_store_hours", true) => FAQ_HOURS_ZH,
        ("faq_store_hours", false) => FAQ_HOURS_EN,
        _ => return None,
    })
}

/// Who may give how many points of compensation: managers and admins up to
/// [`COMPENSATION_POINTS_MAX`], agents up to [`COMPENSATION_POINTS_AGENT_MAX`], nobody else.
pub fn compensation_limit(role: Role) -> Option<i64> {
    match role {
        Role::Admin | Role::Manager => Some(COMPENSATION_POINTS_MAX),
        Role::Agent => Some(COMPENSATION_POINTS_AGENT_MAX),
        Role::Analyst | Role::Integration => None,
    }
}

const ACK_ZH: &str = "{{customer.honorific}} 您好：

謝謝您聯絡我們{% if customer.returning %}，也謝謝您一直以來的支持{% endif %}。您的訊息我們已經收到了。

若這件事為您帶來不便，我們先向您說聲抱歉。

您的案件編號是 {{ticket.reference}}，客服專員正在了解您的情況。

我們會在服務時間內盡快由專人回覆您；若想補充資料，直接回覆這則訊息即可，請保留案件編號方便查詢。

再次感謝您的耐心，我們很快會再與您聯繫。

客服團隊 敬上";

const ACK_EN: &str = "Dear {{customer.honorific}},

Thank you for contacting us{% if customer.returning %}, and for staying with us{% endif %}. We have received your message.

If this has caused you any trouble, we are sorry.

Your reference number is {{ticket.reference}}; a member of our team is looking into it.

A person will reply to you as soon as we can during our opening hours. To add anything, simply reply to this message and keep the reference number.

Thank you again for your patience; we will be in touch shortly.

The customer care team";

const FAQ_ZH: &str = "{{customer.honorific}} 您好：

謝謝您的提問，這個問題很多顧客也遇過，我們整理了處理方式給您。

讓您需要自己查詢，真的不好意思。

{{faq.answer}}

如果以上方式沒有解決您的問題，請直接回覆這則訊息（案件編號 {{ticket.reference}}），會有專人接手協助您。

謝謝您，祝您有美好的一天。

客服團隊 敬上";

const FAQ_EN: &str = "Dear {{customer.honorific}},

Thank you for your question; many customers ask the same, so here is how it works.

We are sorry you had to look this up.

{{faq.answer}}

If this does not solve it, just reply to this message (reference {{ticket.reference}}) and a person will take over.

Thank you, and have a good day.

The customer care team";

const ORDER_STATUS_ZH: &str = "{{customer.honorific}} 您好：

謝謝您的詢問{% if customer.returning %}，也謝謝您再次選購{% endif %}，我們了解等待商品的心情。

讓您需要來信查詢進度，我們很抱歉。

我們查詢了您於 {{order.placed_on}} 成立的訂單 #{{order.id}}，處理進度已附在本案件（編號 {{ticket.reference}}）中。

若商品未在預計時間內送達，我們會優先為您追蹤並安排處理。

有任何問題，歡迎直接回覆這則訊息，感謝您的耐心等候。

客服團隊 敬上";

const ORDER_STATUS_EN: &str = "Dear {{customer.honorific}},

Thank you for asking{% if customer.returning %}, and for shopping with us again{% endif %}; we know waiting for a parcel is no fun.

We are sorry you had to write to find out.

We looked up your order #{{order.id}} placed on {{order.placed_on}}; its progress is recorded on this case ({{ticket.reference}}).

If it does not arrive when expected, we will chase it first and sort it out for you.

Any question, simply reply to this message. Thank you for your patience.

The customer care team";

const PRODUCT_DEFECT_ZH: &str = "{{customer.honorific}} 您好：

謝謝您撥空告訴我們商品的問題{% if customer.returning %}，也謝謝您長期的支持{% endif %}，我們很重視您的使用感受。

收到有瑕疵的商品讓您失望了，我們深感抱歉。

我們已查看{% if order.known %}訂單 #{{order.id}}{% else %}您的訂單{% endif %}與您提供的資訊，品管人員正在追查原因，並檢討包裝與出貨流程。

我們會為您免費更換全新商品並負擔退貨運費{% if compensation.offered %}，另外已為您加贈 {{compensation.points}} 點會員點數表達歉意{% endif %}。

新品寄出後，客服專員會再與您聯繫確認（案件編號 {{ticket.reference}}）。再次感謝您給我們改進的機會。

客服團隊 敬上";

const PRODUCT_DEFECT_EN: &str = "Dear {{customer.honorific}},

Thank you for taking the time to tell us about the problem{% if customer.returning %}, and for your continued support{% endif %}; how our products work for you matters to us.

We are truly sorry that the item reached you faulty.

We have checked {% if order.known %}order #{{order.id}}{% else %}your order{% endif %} and the details you sent; our quality team is tracing the cause and reviewing how we pack and ship.

We will send you a new item free of charge and cover the return postage{% if compensation.offered %}, and we have added {{compensation.points}} loyalty points to your account to apologise{% endif %}.

Once the replacement is on its way, we will contact you again to make sure all is well (reference {{ticket.reference}}). Thank you again for giving us the chance to put it right.

The customer care team";

const SERVICE_ATTITUDE_ZH: &str = "{{customer.honorific}} 您好：

衷心感謝您願意告訴我們這次不愉快的經驗{% if customer.returning %}，您一直是我們珍惜的顧客{% endif %}。

我們的服務沒有做到應有的水準，讓您感到不受尊重，非常抱歉。

我們已與當時的同仁及主管了解經過，確認處理方式確實不妥，相關同仁將重新接受服務訓練。

{% if compensation.offered %}我們已為您加贈 {{compensation.points}} 點會員點數表達歉意，{% endif %}門市主管也會親自與您聯繫致歉。

您的意見是我們進步的動力，案件編號 {{ticket.reference}}，若有其他想法歡迎隨時回覆，也誠摯邀請您再給我們一次服務的機會。

客服團隊 敬上";

const SERVICE_ATTITUDE_EN: &str = "Dear {{customer.honorific}},

Thank you sincerely for telling us about this unpleasant experience{% if customer.returning %}; you are a customer we value{% endif %}.

Our service fell short of what it should be, and we are very sorry you were not treated with respect.

We have spoken with the staff member and their manager, confirmed that it was handled badly, and the staff involved will be retrained.

{% if compensation.offered %}We have added {{compensation.points}} loyalty points to your account as an apology, and {% endif %}the store manager will contact you in person to apologise.

Your feedback helps us improve; your reference is {{ticket.reference}}. Reply at any time, and we hope you will let us serve you again.

The customer care team";

const LOGISTICS_DELAY_ZH: &str = "{{customer.honorific}} 您好：

謝謝您來信告訴我們訂單延遲的情形，我們完全理解等不到商品的焦急。

沒能如期把商品送到您手上，我們誠摯致歉。

經追蹤，{% if order.known %}訂單 #{{order.id}}{% else %}您的訂單{% endif %}因物流端的延誤未能準時送達，我們已與物流夥伴確認最新進度並要求優先配送。

我們會退還這筆訂單的運費{% if compensation.offered %}，並加贈 {{compensation.points}} 點會員點數作為補償{% endif %}；若仍未在預計時間收到，請立即與我們聯繫。

我們會持續追蹤直到您收到商品（案件編號 {{ticket.reference}}），再次感謝您的耐心與包容。

客服團隊 敬上";

const LOGISTICS_DELAY_EN: &str = "Dear {{customer.honorific}},

Thank you for letting us know your order is late; we understand how frustrating the wait is.

We sincerely apologise for not getting it to you on time.

We traced {% if order.known %}order #{{order.id}}{% else %}your order{% endif %}: it was held up by our delivery partner, who has confirmed its latest status and will deliver it first.

We will refund the shipping fee for this order{% if compensation.offered %} and have added {{compensation.points}} loyalty points to your account{% endif %}; if it still has not arrived by the expected date, contact us at once.

We will keep following it until it reaches you (reference {{ticket.reference}}). Thank you again for your patience.

The customer care team";

// The automatic FAQ answers (tier two of the auto-reply): the source's FAQ and order-status
// auto-replies — thanks, the answer in steps or figures, where to turn if it does not help,
// sign-off — with the desk's five paragraphs. The wording is ours.

const FAQ_ORDER_ZH: &str = "{{customer.honorific}} 您好：

謝謝您{% if customer.returning %}再次{% endif %}選購，我們了解等待商品的心情。

讓您需要來信查詢，我們很抱歉。

您的訂單 #{{order.id}}（{{order.placed_on}} 成立，金額 {{order.amount}}）目前狀態：{{order.state}}。

若商品未在預計時間內送達，或您需要其他協助，請直接回覆這則訊息（案件編號 {{ticket.reference}}），會有專人接手。

感謝您的支持。

客服團隊 敬上";

const FAQ_ORDER_EN: &str = "Dear {{customer.honorific}},

Thank you for {% if customer.returning %}shopping with us again{% else %}your order{% endif %}; we know waiting is no fun.

We are sorry you had to write to find out.

Your order #{{order.id}} (placed on {{order.placed_on}}, {{order.amount}}) is now: {{order.state}}.

If it does not arrive when expected, or you need anything else, reply to this message (reference {{ticket.reference}}) and a person will take over.

Thank you for your support.

The customer care team";

const FAQ_RETURN_ZH: &str = "{{customer.honorific}} 您好：

謝謝您的來信，退貨的方式整理如下。

造成您的不便，我們很抱歉。

一、商品到貨後 7 天內可申請退貨，請保持商品完整並附上原包裝與發票。二、在會員中心的訂單頁按「申請退貨」，或直接回覆這則訊息告訴我們訂單編號。三、我們安排物流到府收件，收到並確認商品後 7 個工作天內退款到原付款方式。

如果以上方式沒有解決您的問題，請直接回覆（案件編號 {{ticket.reference}}），會有專人接手協助您。

祝您有美好的一天。

客服團隊 敬上";

const FAQ_RETURN_EN: &str = "Dear {{customer.honorific}},

Thank you for writing; here is how returns work.

We are sorry for the trouble.

1. You may return an item within 7 days of delivery, complete, with its packaging and invoice. 2. Press \"Return\" on the order in your account, or reply with the order number. 3. We arrange a pickup and refund to the original payment method within 7 working days of receiving the item.

If this does not solve it, reply to this message (reference {{ticket.reference}}) and a person will take over.

Have a good day.

The customer care team";

const FAQ_PASSWORD_ZH: &str = "{{customer.honorific}} 您好：

謝謝您的來信，重設密碼只要幾個步驟。

讓您無法登入，我們很抱歉。

一、打開 {{account.reset_url}}。二、輸入註冊時的 email 或手機號碼。三、依信件或簡訊中的連結設定新密碼（連結 30 分鐘內有效）。

如果仍然無法登入，請直接回覆這則訊息（案件編號 {{ticket.reference}}），會有專人協助您；請勿在訊息中提供密碼。

祝您順心。

客服團隊 敬上";

const FAQ_PASSWORD_EN: &str = "Dear {{customer.honorific}},

Thank you for writing; resetting your password takes a few steps.

We are sorry you could not sign in.

1. Open {{account.reset_url}}. 2. Enter the email or phone number you registered with. 3. Follow the link in the email or text message to set a new password (valid for 30 minutes).

If you still cannot sign in, reply to this message (reference {{ticket.reference}}) and a person will help; never send us your password.

All the best.

The customer care team";

const FAQ_POINTS_ZH: &str = "{{customer.honorific}} 您好：

謝謝您{% if customer.returning %}一直以來{% endif %}的支持，您的點數查詢如下。

讓您需要來信查詢，我們很抱歉。

您目前可使用的點數為 {{points.balance}} 點；尚在鑑賞期內的點數會在期滿後入帳。

點數有任何疑問，請直接回覆這則訊息（案件編號 {{ticket.reference}}），會有專人為您確認。

祝您有美好的一天。

客服團隊 敬上";

const FAQ_POINTS_EN: &str = "Dear {{customer.honorific}},

Thank you for {% if customer.returning %}staying with us{% else %}your question{% endif %}; here is your points balance.

We are sorry you had to ask.

You have {{points.balance}} points to spend; points still in their return window are added when it ends.

For any question about your points, reply to this message (reference {{ticket.reference}}) and a person will check.

Have a good day.

The customer care team";

const FAQ_HOURS_ZH: &str = "{{customer.honorific}} 您好：

謝謝您的詢問，我們的服務時間如下。

若造成您的不便，敬請見諒。

{{store.hours}}（國定假日另行公告）。

其他問題請直接回覆這則訊息（案件編號 {{ticket.reference}}），會有專人回覆您。

期待為您服務。

客服團隊 敬上";

const FAQ_HOURS_EN: &str = "Dear {{customer.honorific}},

Thank you for asking; here are our opening hours.

We are sorry for any inconvenience.

{{store.hours}} (public holidays are announced separately).

For anything else, reply to this message (reference {{ticket.reference}}) and a person will answer.

We look forward to serving you.

The customer care team";
