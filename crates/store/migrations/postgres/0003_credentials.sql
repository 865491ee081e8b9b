-- offboard core schema, version 3 (PostgreSQL): how people and machines prove who they are.
-- Passwords are stored as Argon2id hashes (PHC strings); tokens and sessions as the
-- SHA-256 of the secret, never the secret itself.
ALTER TABLE offboard_users ADD COLUMN password TEXT;
CREATE TABLE offboard_tokens (
    hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES offboard_users (name) ON DELETE CASCADE,
    label TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX offboard_tokens_user ON offboard_tokens (user_name);
CREATE TABLE offboard_sessions (
    hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES offboard_users (name) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX offboard_sessions_user ON offboard_sessions (user_name);
