-- The desk, continued (SQLite): the LINE channel's settings, LINE webhook deliveries seen
-- (redeliveries are skipped), reply templates as edited by the shop, and the knowledge base
-- with its character-bigram postings. Keep in step with ../postgres/0005_desk_more.sql.

-- One row: the LINE Messaging API channel. The secret verifies X-Line-Signature; the access
-- token authorises replies and pushes to api_base_url (https://api.line.me unless changed).
CREATE TABLE line_channel (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    channel_secret  TEXT NOT NULL,
    access_token    TEXT NOT NULL,
    api_base_url    TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- webhookEventId of every LINE event handled, so a redelivery is not a second message.
CREATE TABLE line_webhook_events (
    event_id     TEXT PRIMARY KEY,
    ticket_id    BIGINT REFERENCES tickets (id),
    received_at  BIGINT NOT NULL
);

-- Reply templates a shop stored; the built-in defaults apply to the others.
CREATE TABLE reply_templates (
    key         TEXT NOT NULL,
    locale      TEXT NOT NULL,
    body        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (key, locale)
);

CREATE TABLE kb_articles (
    id          INTEGER PRIMARY KEY,
    locale      TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Search terms (character bigrams of CJK runs, lower-cased words otherwise) per article.
CREATE TABLE kb_postings (
    term        TEXT NOT NULL,
    article_id  BIGINT NOT NULL REFERENCES kb_articles (id),
    PRIMARY KEY (term, article_id)
);
CREATE INDEX kb_postings_by_article ON kb_postings (article_id);
