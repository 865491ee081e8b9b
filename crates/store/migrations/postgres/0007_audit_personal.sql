-- offboard core schema, version 7 (PostgreSQL): the audit log's personal part, kept apart from the
-- hash chain. An entry about a customer chains its details with strings masked and a digest,
-- SHA-256 of a random salt and the personal part; the name and the full details live here with
-- the salt. An erasure or a forget deletes the customer's rows here: the chain still verifies
-- (it covers the digest), and no personal value — nor an unsalted hash of one — remains.
CREATE TABLE offboard_audit_personal (
    seq BIGINT PRIMARY KEY,
    customer_id BIGINT NOT NULL,
    salt TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX offboard_audit_personal_customer ON offboard_audit_personal (customer_id);
