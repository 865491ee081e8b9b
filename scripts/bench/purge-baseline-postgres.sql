-- Baseline for the purge benchmark: the membership purge hand-written as set-based SQL
-- (PostgreSQL), same statements as purge-baseline-sqlite.sql. Run with psql -f.
\timing off
BEGIN;
CREATE TEMP TABLE cand (id BIGINT PRIMARY KEY) ON COMMIT DROP;
INSERT INTO cand SELECT id FROM customers WHERE status = 'deleted';
ANALYZE cand;
CREATE TEMP TABLE blocked (id BIGINT PRIMARY KEY) ON COMMIT DROP;
INSERT INTO blocked SELECT customer_id FROM "order" WHERE customer_id IN (SELECT id FROM cand) AND stage NOT IN ('CLOSED', 'CANCELLED', 'COMPLETED') ON CONFLICT DO NOTHING;
INSERT INTO blocked SELECT customer_id FROM invoice WHERE customer_id IN (SELECT id FROM cand) AND balance != 0 ON CONFLICT DO NOTHING;
INSERT INTO blocked SELECT customer_id FROM subscription WHERE customer_id IN (SELECT id FROM cand) AND status LIKE 'A%' ON CONFLICT DO NOTHING;
INSERT INTO blocked SELECT provider_id FROM referral WHERE provider_id IN (SELECT id FROM cand) AND referral_fee > 0 AND ready_to_invoice AND order_number = 0 ON CONFLICT DO NOTHING;
CREATE TEMP TABLE go (id BIGINT PRIMARY KEY) ON COMMIT DROP;
INSERT INTO go SELECT id FROM cand WHERE id NOT IN (SELECT id FROM blocked);
ANALYZE go;
CREATE TEMP VIEW orphaned AS
  SELECT company_id AS id FROM customers WHERE company_id IN (SELECT id FROM go) AND id NOT IN (SELECT id FROM go)
  UNION SELECT bill_to_id FROM customers WHERE bill_to_id IN (SELECT id FROM go) AND id NOT IN (SELECT id FROM go)
  UNION SELECT bill_to_id FROM cert_register WHERE bill_to_id IN (SELECT id FROM go) AND (customer_id IS NULL OR customer_id NOT IN (SELECT id FROM go));
DELETE FROM go WHERE id IN (SELECT id FROM orphaned);
DELETE FROM go WHERE id IN (SELECT id FROM orphaned);
DELETE FROM go WHERE id IN (SELECT id FROM orphaned);
DELETE FROM go WHERE id IN (SELECT id FROM orphaned);
DELETE FROM go WHERE id IN (SELECT id FROM orphaned);
DELETE FROM go WHERE id IN (SELECT id FROM orphaned);
INSERT INTO offboard_audit (seq, at, actor, operation, customer_id, customer_number, customer_name, reason, details, prev_hash, hash)
  SELECT (SELECT coalesce(max(seq), 0) FROM offboard_audit) + row_number() OVER (ORDER BY c.id), now(), 'baseline', 'purge',
         c.id, c.number, c.name, NULL, json_build_object('company', co.name, 'bill_to', bt.name)::text, '', ''
  FROM customers c LEFT JOIN customers co ON co.id = c.company_id LEFT JOIN customers bt ON bt.id = c.bill_to_id
  WHERE c.id IN (SELECT id FROM go);
DELETE FROM cert_register WHERE customer_id IN (SELECT id FROM go);
DELETE FROM note WHERE customer_id IN (SELECT id FROM go);
DELETE FROM address WHERE customer_id IN (SELECT id FROM go);
UPDATE activity SET customer_id = NULL WHERE customer_id IN (SELECT id FROM go);
DELETE FROM referral WHERE provider_id IN (SELECT id FROM go);
DELETE FROM subscription WHERE customer_id IN (SELECT id FROM go);
UPDATE invoice SET customer_id = NULL WHERE customer_id IN (SELECT id FROM go);
UPDATE "order" SET customer_id = NULL WHERE customer_id IN (SELECT id FROM go);
DELETE FROM customers WHERE id IN (SELECT id FROM go);
SELECT (SELECT count(*) FROM cand) AS candidates, (SELECT count(*) FROM go) AS purged;
COMMIT;
