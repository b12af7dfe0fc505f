use super::mime::{decode_words, html_to_text, parse_mailbox};
use super::*;

fn parse(raw: &str) -> ParsedEmail {
    parse_message(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

#[test]
fn folded_headers_and_encoded_words() {
    let m = parse(
        "From: =?UTF-8?B?546L5bCP5piO?= <ming@example.tw>\r\n\
         Subject: =?UTF-8?Q?=E8=A8=82=E5=96=AE?=\r\n =?UTF-8?B?5pyq5Yiw?= now\r\n\
         Message-ID: <abc@example.tw>\r\n\
         References: <r1@x>\r\n\t<r2@x>\r\n\
         In-Reply-To: <r2@x>\r\n\r\n\
         hello\r\n",
    );
    assert_eq!(m.subject.as_deref(), Some("訂單未到 now"));
    let from = m.from.unwrap();
    assert_eq!(from.name.as_deref(), Some("王小明"));
    assert_eq!(from.address, "ming@example.tw");
    assert_eq!(m.message_id.as_deref(), Some("abc@example.tw"));
    assert_eq!(m.references, ["r1@x", "r2@x"]);
    assert_eq!(m.in_reply_to, ["r2@x"]);
    assert_eq!(m.text, "hello");
}

#[test]
fn charsets_decode_to_utf8() {
    // 「退貨」 in Big5 is B0 68 B3 66; in GB2312 「退货」 is CD CB BB F5.
    let mut raw = b"From: a@b.tw\r\nContent-Type: text/plain; charset=big5\r\n\r\n".to_vec();
    raw.extend_from_slice(&[0xB0, 0x68, 0xB3, 0x66]);
    assert_eq!(parse_message(&raw).unwrap().text, "退貨");
    let mut raw = b"From: a@b.cn\r\nContent-Type: text/plain; charset=\"gb2312\"\r\n\r\n".to_vec();
    raw.extend_from_slice(&[0xCD, 0xCB, 0xBB, 0xF5]);
    assert_eq!(parse_message(&raw).unwrap().text, "退货");
    let m = parse(
        "From: a@b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 cr=\r\n=E8me\r\n",
    );
    assert_eq!(m.text, "café crème");
    assert_eq!(decode_words("=?big5?B?sGizZg==?="), "退貨");
    assert_eq!(decode_words("=?GBK?Q?=CD=CB=BB=F5?= ok"), "退货 ok");
    assert_eq!(
        parse_message(b"From: a@b\r\nContent-Type: text/plain; charset=klingon\r\n\r\nx"),
        Err(MimeError::UnknownCharset("klingon".to_owned()))
    );
}

#[test]
fn alternative_prefers_plain_and_falls_back_to_html() {
    let both = "From: a@b\r\nContent-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n\
        preamble\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n\
        --XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        5oiR55qE6KiC5Zau\r\n--XX--\r\n";
    assert_eq!(parse(both).text, "我的訂單");
    let html = "From: a@b\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n\
        --XX\r\nContent-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hello&nbsp;&amp; bye</p><br>line &#x4F60;</html>\r\n--XX--\r\n";
    assert_eq!(parse(html).text, "Hello & bye\n\nline 你");
    assert_eq!(html_to_text("<b>a</b>"), "a");
}

#[test]
fn mixed_keeps_attachments() {
    let m = parse(
        "From: a@b\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n\
         --b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n\
         --b2\r\nContent-Type: text/plain\r\n\r\nsee photo\r\n--b2--\r\n\
         --b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename*=utf-8''%E7%85%A7.png\r\n\
         Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b1--\r\n",
    );
    assert_eq!(m.text, "see photo");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename.as_deref(), Some("照.png"));
    assert_eq!(m.attachments[0].content_type, "image/png");
    assert_eq!(m.attachments[0].data, b"hello");
}

#[test]
fn malformed_input_is_an_error() {
    assert_eq!(parse_message(b""), Err(MimeError::Empty));
    assert_eq!(
        parse_message(b"not a header\r\n\r\n"),
        Err(MimeError::NoHeaders)
    );
    assert_eq!(
        parse_message(b"Subject: x\r\n\r\nbody"),
        Err(MimeError::NoSender)
    );
    assert_eq!(
        parse_message(b"From: a@b\r\nContent-Type: multipart/mixed\r\n\r\nx"),
        Err(MimeError::MissingBoundary)
    );
    assert_eq!(
        parse_message(b"From: a@b\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!a"),
        Err(MimeError::BadBase64)
    );
}

#[test]
fn loop_reasons() {
    let with = |h: &str| parse(&format!("From: a@b.tw\r\n{h}\r\n\r\nx"));
    assert_eq!(
        loop_reason(&with("Auto-Submitted: auto-replied")),
        Some(IgnoreReason::AutoSubmitted)
    );
    assert_eq!(loop_reason(&with("Auto-Submitted: no")), None);
    assert_eq!(
        loop_reason(&with("Precedence: bulk")),
        Some(IgnoreReason::Precedence)
    );
    assert_eq!(loop_reason(&with("Precedence: first-class")), None);
    assert_eq!(
        loop_reason(&with("X-Autoreply: yes")),
        Some(IgnoreReason::AutoReplyHeader)
    );
    assert_eq!(
        loop_reason(&with("List-Id: <shop.lists.x>")),
        Some(IgnoreReason::MailingList)
    );
    assert_eq!(
        loop_reason(&with("Return-Path: <>")),
        Some(IgnoreReason::Bounce)
    );
    assert_eq!(loop_reason(&with("Return-Path: <a@b.tw>")), None);
    let daemon = parse("From: MAILER-DAEMON@mx.example\r\n\r\nx");
    assert_eq!(loop_reason(&daemon), Some(IgnoreReason::Bounce));
    let report = parse(
        "From: mx@example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n\
         --r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--r--\r\n",
    );
    assert_eq!(loop_reason(&report), Some(IgnoreReason::Bounce));
}

#[test]
fn subject_references() {
    let r = subject_reference("Re: [T-2026-000042] 退貨").unwrap();
    assert_eq!(r.ticket_id, 42);
    assert!(subject_reference("No ref T-20 here").is_none());
    assert_eq!(
        ticket_subject("T-2026-000042", Some("退貨")),
        "[T-2026-000042] Re: 退貨"
    );
    assert_eq!(
        ticket_subject("T-2026-000042", Some("Re: [T-2026-000042] x")),
        "Re: [T-2026-000042] x"
    );
    assert_eq!(
        parse_mailbox("\"Lin, Amy\" <amy@x.tw>, b@c")
            .unwrap()
            .address,
        "amy@x.tw"
    );
}

#[test]
fn composed_mail_reads_back() {
    let out = Outgoing {
        from: "desk@shop.tw".to_owned(),
        to: "ming@example.tw".to_owned(),
        subject: "[T-2026-000042] Re: 我的訂單在哪裡?".to_owned(),
        message_id: "T-2026-000042.1@shop.tw".to_owned(),
        in_reply_to: Some("abc@example.tw".to_owned()),
        references: vec!["abc@example.tw".to_owned()],
        auto_replied: true,
        date: "2026-03-02T01:00:00Z".parse().unwrap(),
        body: "您好，我們已收到您的來信。\n.\n參考編號 T-2026-000042".repeat(5),
        attachments: Vec::new(),
    };
    let text = compose(&out);
    assert!(text.is_ascii());
    assert!(text.contains("Auto-Submitted: auto-replied\r\n"));
    assert!(text.contains("Date: Mon, 02 Mar 2026 01:00:00 +0000\r\n"));
    assert!(text.lines().all(|l| l.len() <= 78), "{text}");
    let back = parse(&text);
    assert_eq!(back.subject.as_deref(), Some(out.subject.as_str()));
    assert_eq!(back.text, out.body);
    assert_eq!(back.in_reply_to, ["abc@example.tw"]);
    assert_eq!(back.message_id.as_deref(), Some(out.message_id.as_str()));
    assert_eq!(loop_reason(&back), Some(IgnoreReason::AutoSubmitted));
    assert!(text.contains("X-Auto-Response-Suppress: All\r\n"));
    assert!(back.attachments.is_empty());
    // An agent's reply is not automatic: no RFC 3834 marks, and it is not ignored as such.
    let agent = compose(&Outgoing {
        auto_replied: false,
        ..out
    });
    assert!(!agent.contains("Auto-Submitted"), "{agent}");
    assert!(!agent.contains("X-Auto-Response-Suppress"), "{agent}");
    assert_eq!(loop_reason(&parse(&agent)), None);
}

#[test]
fn composed_attachments_read_back_with_their_names_and_bytes() {
    let long_name = format!("{}.pdf", "退貨申請單據".repeat(20));
    let files = vec![
        OutgoingAttachment {
            filename: Some("退貨單.pdf".to_owned()),
            content_type: "application/pdf".to_owned(),
            data: (0..=255u8).cycle().take(5_000).collect(),
        },
        OutgoingAttachment {
            filename: Some(long_name.clone()),
            content_type: "image/PNG".to_owned(),
            data: vec![0x89, b'P', b'N', b'G', 0, 0xff, b'\r', b'\n', b'.', b'\n'],
        },
        OutgoingAttachment {
            filename: Some("receipt 2026.txt".to_owned()),
            content_type: "not a type; x=\"y\"".to_owned(),
            data: b"--=_patron_ no boundary here\r\n.\r\n".to_vec(),
        },
        OutgoingAttachment {
            filename: None,
            content_type: "text/csv".to_owned(),
            data: "品名,數量\n烏龍,2\n".as_bytes().to_vec(),
        },
    ];
    let out = Outgoing {
        from: "desk@shop.tw".to_owned(),
        to: "ming@example.tw".to_owned(),
        subject: "[T-2026-000042] 退貨".to_owned(),
        message_id: "T-2026-000042.2@shop.tw".to_owned(),
        in_reply_to: None,
        references: Vec::new(),
        auto_replied: false,
        date: "2026-03-02T01:00:00Z".parse().unwrap(),
        body: "附上退貨單，請填寫後寄回。".to_owned(),
        attachments: files.clone(),
    };
    let text = compose(&out);
    assert!(text.is_ascii());
    assert!(text.contains("Content-Type: multipart/mixed; boundary="));
    assert!(text.lines().all(|l| l.len() <= 78), "{text}");
    assert!(
        text.contains("filename*0*=UTF-8''"),
        "RFC 2231 for non-ASCII names"
    );
    assert!(
        text.contains("name=\"=?UTF-8?B?"),
        "RFC 2047 in name= for older clients"
    );
    let back = parse(&text);
    assert_eq!(back.text, out.body);
    assert_eq!(back.attachments.len(), files.len());
    for (got, sent) in back.attachments.iter().zip(&files) {
        assert_eq!(got.data, sent.data);
    }
    assert_eq!(back.attachments[0].filename.as_deref(), Some("退貨單.pdf"));
    assert_eq!(back.attachments[0].content_type, "application/pdf");
    assert_eq!(
        back.attachments[1].filename.as_deref(),
        Some(long_name.as_str())
    );
    assert_eq!(back.attachments[1].content_type, "image/png");
    assert_eq!(
        back.attachments[2].filename.as_deref(),
        Some("receipt 2026.txt")
    );
    assert_eq!(
        back.attachments[2].content_type, "application/octet-stream",
        "a malformed type is not copied into the header"
    );
    assert_eq!(back.attachments[3].filename, None);
}

#[test]
fn rfc2231_continuations_are_joined() {
    let raw = "From: a@b.tw\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
        Content-Type: text/plain\r\n\r\nhi\r\n--B\r\n\
        Content-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename=\"fallback.bin\";\r\n\
        \tfilename*1*=%E5%96%AE.pdf; filename*0*=utf-8'zh'%E9%80%80%E8%B2%A8\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--B--\r\n";
    let back = parse(raw);
    assert_eq!(back.attachments.len(), 1);
    assert_eq!(back.attachments[0].filename.as_deref(), Some("退貨單.pdf"));
    assert_eq!(back.attachments[0].data, vec![0, 1, 2]);
}
