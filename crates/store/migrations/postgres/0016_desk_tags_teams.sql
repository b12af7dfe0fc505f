-- The desk's tags and teams (PostgreSQL), and the stored attachments an outgoing e-mail carries.
-- Keep in step with ../sqlite/0016_desk_tags_teams.sql.

-- Teams a ticket can belong to (客服, 物流, 退貨, 技術). `categories` lists the category codes
-- a new ticket is placed in the team by, separated by commas (empty: by hand only).
CREATE TABLE desk_teams (
    name        TEXT PRIMARY KEY,
    categories  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Which agents belong to which teams (an agent may be in several).
CREATE TABLE desk_team_members (
    team    TEXT NOT NULL REFERENCES desk_teams (name),
    handle  TEXT NOT NULL REFERENCES desk_agents (handle),
    PRIMARY KEY (team, handle)
);
CREATE INDEX desk_team_members_by_handle ON desk_team_members (handle);

-- The team a ticket is with now (a projection of its `handed_off` log entries).
ALTER TABLE tickets ADD COLUMN team TEXT;
CREATE INDEX tickets_by_team ON tickets (team, id);

-- A ticket's tags now (a projection of its `tagged` / `untagged` log entries).
CREATE TABLE ticket_tags (
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    tag        TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_by_tag ON ticket_tags (tag, ticket_id);

-- Stored attachments of the ticket sent with an outgoing message, in order.
CREATE TABLE email_outgoing_attachments (
    email_id       BIGINT NOT NULL REFERENCES email_messages (id),
    position       BIGINT NOT NULL,
    attachment_id  BIGINT NOT NULL REFERENCES email_attachments (id),
    PRIMARY KEY (email_id, position)
);
