-- Baseline for the deactivation benchmark (PostgreSQL): the same statements as
-- deactivate-baseline-sqlite.sql. Run with psql -f.
\timing off
BEGIN;
CREATE TEMP TABLE cand (id BIGINT PRIMARY KEY) ON COMMIT DROP;
INSERT INTO cand SELECT id FROM customers WHERE status = 'active' AND kind = 'person' ORDER BY id LIMIT 100000;
ANALYZE cand;
CREATE TEMP TABLE blk (id BIGINT, rule TEXT, n BIGINT, amount BIGINT, ids TEXT) ON COMMIT DROP;
INSERT INTO blk SELECT customer_id, 'open-orders', count(*), sum(total), string_agg(id::text, ',') FROM "order" WHERE customer_id IN (SELECT id FROM cand) AND stage NOT IN ('CLOSED', 'CANCELLED', 'COMPLETED') GROUP BY customer_id;
INSERT INTO blk SELECT customer_id, 'unpaid-invoices', count(*), sum(balance), string_agg(id::text, ',') FROM invoice WHERE customer_id IN (SELECT id FROM cand) AND balance != 0 GROUP BY customer_id;
INSERT INTO blk SELECT customer_id, 'active-subscriptions', count(*), NULL, string_agg(id::text, ',') FROM subscription WHERE customer_id IN (SELECT id FROM cand) AND status LIKE 'A%' GROUP BY customer_id;
INSERT INTO blk SELECT provider_id, 'owed-referrals', count(*), sum(referral_fee), string_agg(id::text, ',') FROM referral WHERE provider_id IN (SELECT id FROM cand) AND referral_fee > 0 AND ready_to_invoice AND order_number = 0 GROUP BY provider_id;
ANALYZE blk;
SELECT json_build_object('id', c.id, 'number', c.number, 'name', c.name,
         'outcome', CASE WHEN b.id IS NULL THEN 'proceeds' ELSE 'blocked' END,
         'blockers', b.list)
  FROM cand JOIN customers c ON c.id = cand.id
  LEFT JOIN (SELECT id, json_agg(json_build_object('rule', rule, 'count', n, 'amount', amount, 'ids', ids)) AS list FROM blk GROUP BY id) b ON b.id = c.id
  ORDER BY c.id;
SELECT (SELECT count(*) FROM cand) AS candidates, (SELECT count(DISTINCT id) FROM blk) AS blocked;
SELECT rule, count(*) FROM blk GROUP BY rule;
ROLLBACK;
