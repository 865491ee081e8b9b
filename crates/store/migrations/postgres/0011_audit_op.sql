-- The operation an audit entry belongs to: the sequence number of the first entry that
-- operation wrote (every entry one transaction writes shares it). Undo takes back exactly
-- one operation by it, never by timing. NULL for entries written before it existed.
ALTER TABLE offboard_audit ADD COLUMN op BIGINT;
CREATE INDEX offboard_audit_op ON offboard_audit (op);
