-- offboard core schema, version 12 (sqlite): privacy requests a data-protection officer runs
-- (GDPR art. 12, 15, 16, 17, 18, 21). The person is a customer id (not personal) and, as the
-- request came in, a contact and a name; those and the notes are cleared when a request has
-- been closed for the model's `[privacy] keep_requests_days` (`redacted_at`), or at once when
-- an erasure request completes. Nothing is released or erased before the identity is verified:
-- the check below makes that a fact of the table, not of the code.
CREATE TABLE offboard_privacy_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'erasure', 'correction', 'restriction')),
    status TEXT NOT NULL CHECK (status IN ('received', 'verified', 'in_progress', 'completed', 'refused')),
    customer_id INTEGER,
    customer_number TEXT,
    contact TEXT,
    requester TEXT,
    received_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    extended_because TEXT,
    logged_by TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    assignee TEXT,
    verified_method TEXT,
    verified_by TEXT,
    verified_at TEXT,
    outcome TEXT,
    closed_by TEXT,
    closed_at TEXT,
    refusal TEXT,
    receipt TEXT,
    notes TEXT,
    redacted_at TEXT,
    CHECK (status IN ('received', 'refused') OR verified_at IS NOT NULL),
    CHECK (status NOT IN ('completed', 'refused') OR closed_at IS NOT NULL),
    CHECK (status <> 'refused' OR refusal IS NOT NULL)
);
CREATE INDEX ix_offboard_privacy_requests_status ON offboard_privacy_requests (status, due_on);
CREATE INDEX ix_offboard_privacy_requests_customer ON offboard_privacy_requests (customer_id);
