-- offboard core schema, version 4 (SQLite): the outcome of a background job, written inside
-- the job's own transaction, so "it committed" and "its result is here" are one fact. The
-- jobs themselves (queue, progress) live in the job book (`FILE.jobs`), which a running
-- job's write lock on this file does not hold up.
CREATE TABLE offboard_job_results (
    job_id INTEGER PRIMARY KEY,
    plan TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
