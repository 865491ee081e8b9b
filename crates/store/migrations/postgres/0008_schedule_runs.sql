-- offboard core schema, version 8 (PostgreSQL): what each `[[schedule]]` did in each period. A
-- schedule runs once per period (its key is `(schedule, period)`); a run the model sends for
-- review waits in state `review` with the customers it proposes until a manager approves or
-- rejects it.
CREATE TABLE offboard_schedule_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule TEXT NOT NULL,
    period TEXT NOT NULL,
    ran_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('done', 'review', 'approved', 'rejected')),
    customers TEXT NOT NULL,
    report TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    UNIQUE (schedule, period)
);
