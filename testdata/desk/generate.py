"""Writes messages_train.jsonl and messages_test.jsonl from the hand-written cores in cores.py,
each core placed in a channel's usual form (a short LINE chat, an e-mail with a subject and
greeting, a staff log of a call or a counter complaint, a web form), some with 注音文 or an
angry ending. Train and test use separate cores and partly separate wrappers. Deterministic.
Run: python3 testdata/desk/generate.py"""
import json, random, os
import cores

HERE = os.path.dirname(os.path.abspath(__file__))

WRAP = {
 "train": dict(
  line_suffix=["", "", "～", "🙏", "?", "…", "喔", "啦", " 謝謝", "😢", "耶", " 感謝", "！", "😅", " 拜託", "～～", " 3Q", "ㄛ", " thx", "😂"],
  angry=["！！！氣死我了", "😡😡", "，真的很火大", "，超級不爽", "，爛透了", "，我要上網爆料", "，再不處理我就去找消基會", "，誇張到極點", "，你們到底在幹嘛！！"],
  subjects_neg=["客訴", "反映問題", "關於我的訂單", "意見回饋", "請協助處理", "Complaint"],
  subjects_neu=["詢問", "請問", "關於我的訂單", "問題諮詢", "Question"],
  subjects_pos=["感謝信", "意見回饋", "謝謝你們"],
  greet=["您好，", "客服您好：", "你好，", "Hi，", "哈囉，"],
  context=["我在11/3於官網下單，訂單編號 P20261103017。", "我是你們的老顧客了。", "上週六在信義店購買。", "這是我第二次寫信來。", "東西是買來送人的。", "我住在台中。", "上個月在網路商店訂的。", "朋友推薦我來買的。", "我是銀卡會員，會員編號 M00231。", "我在蝦皮賣場買的。", "訂單號碼 #88123。", "幫家人代為反映。", "上禮拜三在板橋店。", "我是你們的VIP。", "這筆訂單是貨到付款。", "買的是限量款。"],
  close=["麻煩盡快回覆，謝謝。", "謝謝。", "再麻煩了。", "請回覆，感謝。", "", "等你們的消息。", "感恩。", "謝謝您的協助。", "祝順心。", "麻煩了，感謝。", "盡快處理，謝謝。"],
  sign=["王小姐", "陳先生", "Amy", "林太太", "阿明"],
  phone=["顧客來電：", "來電反映：", "電話紀錄：客人說", "客人來電表示", "電話客服紀錄：", "來電：", "電話進線，顧客說"],
  store=["門市紀錄：", "顧客在櫃檯表示：", "現場顧客反映：", "門市人員轉述：", "客人到店說", "店內紀錄："],
 ),
 "test": dict(
  line_suffix=["", "～～", "🙇", "？？", "喔喔", "唷", " 感恩", "😭", "欸"],
  angry=["🤬", "，有夠扯", "，我要客訴到底", "，氣到發抖", "，你們完蛋了", "，我會找記者", "！！！！"],
  subjects_neg=["問題反映", "很不滿意", "訂單問題", "Re: 我的購物"],
  subjects_neu=["請教", "小問題", "訂單詢問", "Inquiry"],
  subjects_pos=["讚美", "回饋"],
  greet=["客服人員您好，", "Hello，", "嗨，"],
  context=["訂單編號 S0099812。", "我十月在高雄門市買的。", "我是金卡會員。", "買給媽媽的。"],
  close=["請盡速處理。", "謝謝您。", "", "感恩。"],
  sign=["張小姐", "Kevin", "黃先生"],
  phone=["客人打電話來說：", "電話客訴："],
  store=["店內客人反映：", "櫃檯紀錄："],
 ),
}
SENT = {"v": "very_negative", "n": "negative", "0": "neutral", "p": "positive"}
INTENT = {".": None, "w": "where_is_my_order", "r": "how_to_return", "k": "password_reset", "b": "points_balance", "h": "store_hours"}
ZHUYIN = [("的", "ㄉ"), ("了", "ㄌ"), ("嗎", "ㄇ")]

def render(rng, w, text, sent, channel):
    subject = None
    if channel == "line":
        if rng.random() < 0.3:
            for a, b in ZHUYIN:
                text = text.replace(a, b)
        text = text + rng.choice(w["line_suffix"])
    elif channel == "email":
        pool = {"very_negative": "subjects_neg", "negative": "subjects_neg", "neutral": "subjects_neu", "positive": "subjects_pos"}[sent]
        subject = rng.choice(w[pool])
        parts = [rng.choice(w["greet"])]
        if rng.random() < 0.6:
            parts.append(rng.choice(w["context"]))
        end = text[-1]
        parts.append(text + ("？" if end in "嗎呢" else "。" if "\u4e00" <= end <= "\u9fff" else ""))
        parts.append(rng.choice(w["close"]))
        parts.append("\n" + rng.choice(w["sign"]))
        text = "".join(parts)
    elif channel == "phone":
        text = rng.choice(w["phone"]) + text
    elif channel == "store":
        text = rng.choice(w["store"]) + text
    return text, subject

def lines(split, table, seed, second_share):
    rng = random.Random(seed)
    w = WRAP[split]
    out = []
    for category, block in table.items():
        for raw in block.strip().splitlines():
            code, text = raw.split(" ", 1)
            sent, intent = SENT[code[0]], INTENT[code[1]]
            text = text.strip()
            uses = 2 if rng.random() < second_share else 1
            channels = rng.sample(["line", "email", "web", "phone", "store", "line"], uses)
            for channel in channels:
                s = sent
                t = text
                if s == "negative" and rng.random() < 0.25:
                    t = t + rng.choice(w["angry"])
                    s = "very_negative"
                # staff logs of questions are not FAQ answers on the customer's channel
                t, subject = render(rng, w, t, s, channel)
                row = {"text": t, "channel": channel}
                if subject:
                    row["subject"] = subject
                row["category"] = category
                if intent:
                    row["intent"] = intent
                row["sentiment"] = s
                out.append(row)
    rng.shuffle(out)
    return out

for split, table, seed, share in [("train", cores.TRAIN, 7, 0.5), ("test", cores.TEST, 11, 0.5)]:
    rows = lines(split, table, seed, share)
    with open(os.path.join(HERE, f"messages_{split}.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(split, len(rows))
