-- Desk triage: the learned classifier's stored versions and the agent roster used for routing.
-- Keep in step with the other backend's 0009_desk_triage.sql.

-- Each retrain stores a new version; the highest is in force. `model` is the JSON document
-- written by app::desk::classifier (n-gram vocabulary, weights, labels).
CREATE TABLE classifier_models (
    version       BIGINT PRIMARY KEY CHECK (version > 0),
    trained_at    BIGINT NOT NULL,
    examples      BIGINT NOT NULL CHECK (examples > 0),
    agent_labels  BIGINT NOT NULL CHECK (agent_labels >= 0),
    model         TEXT NOT NULL
);

-- Agents tickets are routed to. `skills` lists category codes separated by commas (empty:
-- every category); `last_assigned_seq` orders the round robin (lowest goes next).
CREATE TABLE desk_agents (
    handle             TEXT PRIMARY KEY,
    skills             TEXT NOT NULL,
    senior             BIGINT NOT NULL DEFAULT 0 CHECK (senior IN (0, 1)),
    max_load           BIGINT NOT NULL CHECK (max_load > 0),
    active             BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    last_assigned_seq  BIGINT NOT NULL DEFAULT 0,
    updated_at         BIGINT NOT NULL
);
