-- offboard core schema, version 6 (SQLite): customers whose personal data was forgotten
-- (masked) while something that must legally stay still blocks their erasure; the next purge
-- erases them once nothing blocks it.
CREATE TABLE offboard_forgotten (
    customer_id INTEGER PRIMARY KEY,
    forgotten_at TEXT NOT NULL
);
