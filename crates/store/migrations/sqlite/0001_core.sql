-- offboard core schema, version 1 (SQLite). Append-only: never edit once released.
CREATE TABLE offboard_columns (
    tbl TEXT NOT NULL,
    col TEXT NOT NULL,
    type TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (tbl, col)
);
CREATE TABLE offboard_sequences (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);
CREATE TABLE offboard_audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    operation TEXT NOT NULL,
    customer_id INTEGER,
    customer_number TEXT,
    customer_name TEXT,
    reason TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX offboard_audit_customer ON offboard_audit (customer_id);
