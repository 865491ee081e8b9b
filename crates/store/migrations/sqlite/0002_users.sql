-- offboard core schema, version 2 (SQLite): people who act in offboard, with a role.
CREATE TABLE offboard_users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);
