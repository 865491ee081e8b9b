-- offboard core schema, version 4 (PostgreSQL): the outcome of a background job, written
-- inside the job's own transaction, so "it committed" and "its result is here" are one fact.
CREATE TABLE offboard_job_results (
    job_id BIGINT PRIMARY KEY,
    plan TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
-- The job book: background jobs, their progress and outcome (in SQLite a file of its own).
CREATE TABLE offboard_jobs (
    id BIGSERIAL PRIMARY KEY,
    operation TEXT NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    phase TEXT,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    request TEXT NOT NULL,
    plan TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX offboard_jobs_status ON offboard_jobs (status, id);
