-- offboard core schema, version 9 (SQLite): the tombstones of merged-away customers. Their ids and
-- numbers resolve to the customer they were merged into (followed along later merges) and are
-- not given again.
CREATE TABLE offboard_merged (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    into_id INTEGER NOT NULL,
    merged_at TEXT NOT NULL
);
CREATE INDEX offboard_merged_into ON offboard_merged (into_id);
