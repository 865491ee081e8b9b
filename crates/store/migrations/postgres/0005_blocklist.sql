-- offboard core schema, version 5 (PostgreSQL): the no-resurrection blocklist. Keyed digests
-- (HMAC-SHA256 under a key kept in offboard_meta) of the identifying values (an email) of
-- erased and forgotten persons — never the values themselves.
CREATE TABLE offboard_blocklist (
    digest TEXT PRIMARY KEY,
    field TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    why TEXT NOT NULL
);
