-- offboard core schema, version 9 (PostgreSQL): the tombstones of merged-away customers. Their ids and
-- numbers resolve to the customer they were merged into (followed along later merges) and are
-- not given again.
CREATE TABLE offboard_merged (
    id BIGINT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    into_id BIGINT NOT NULL,
    merged_at TEXT NOT NULL
);
CREATE INDEX offboard_merged_into ON offboard_merged (into_id);
