-- Baseline for the purge benchmark: the membership purge hand-written as set-based SQL
-- (SQLite), with the same durability and erasure as offboard: synchronous=FULL, secure_delete=ON.
-- The orphan fixpoint is unrolled (six rounds, more than the demo data needs); the audit
-- entries are written without the hash chain. Compare with `offboard purge` on a copy of the
-- same database: scripts/bench-lifecycle.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA secure_delete = ON;
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE cand (id INTEGER PRIMARY KEY);
INSERT INTO cand SELECT id FROM customers WHERE status = 'deleted';
CREATE TEMP TABLE blocked (id INTEGER PRIMARY KEY);
INSERT OR IGNORE INTO blocked SELECT customer_id FROM "order" WHERE customer_id IN cand AND stage NOT IN ('CLOSED', 'CANCELLED', 'COMPLETED');
INSERT OR IGNORE INTO blocked SELECT customer_id FROM invoice WHERE customer_id IN cand AND balance != 0;
INSERT OR IGNORE INTO blocked SELECT customer_id FROM subscription WHERE customer_id IN cand AND status GLOB 'A*';
INSERT OR IGNORE INTO blocked SELECT provider_id FROM referral WHERE provider_id IN cand AND referral_fee > 0 AND ready_to_invoice = 1 AND order_number = 0;
CREATE TEMP TABLE go (id INTEGER PRIMARY KEY);
INSERT INTO go SELECT id FROM cand WHERE id NOT IN blocked;
CREATE TEMP VIEW orphaned AS
  SELECT company_id AS id FROM customers WHERE company_id IN go AND id NOT IN go
  UNION SELECT bill_to_id FROM customers WHERE bill_to_id IN go AND id NOT IN go
  UNION SELECT bill_to_id FROM cert_register WHERE bill_to_id IN go AND (customer_id IS NULL OR customer_id NOT IN go);
DELETE FROM go WHERE id IN orphaned;
DELETE FROM go WHERE id IN orphaned;
DELETE FROM go WHERE id IN orphaned;
DELETE FROM go WHERE id IN orphaned;
DELETE FROM go WHERE id IN orphaned;
DELETE FROM go WHERE id IN orphaned;
INSERT INTO offboard_audit (seq, at, actor, operation, customer_id, customer_number, customer_name, reason, details, prev_hash, hash)
  SELECT (SELECT coalesce(max(seq), 0) FROM offboard_audit) + row_number() OVER (ORDER BY c.id), datetime('now'), 'baseline', 'purge',
         c.id, c.number, c.name, NULL, json_object('company', co.name, 'bill_to', bt.name), '', ''
  FROM customers c LEFT JOIN customers co ON co.id = c.company_id LEFT JOIN customers bt ON bt.id = c.bill_to_id
  WHERE c.id IN go;
DELETE FROM cert_register WHERE customer_id IN go;
DELETE FROM note WHERE customer_id IN go;
DELETE FROM address WHERE customer_id IN go;
UPDATE activity SET customer_id = NULL WHERE customer_id IN go;
DELETE FROM referral WHERE provider_id IN go;
DELETE FROM subscription WHERE customer_id IN go;
UPDATE invoice SET customer_id = NULL WHERE customer_id IN go;
UPDATE "order" SET customer_id = NULL WHERE customer_id IN go;
DELETE FROM customers WHERE id IN go;
SELECT (SELECT count(*) FROM cand) AS candidates, (SELECT count(*) FROM go) AS purged;
COMMIT;
