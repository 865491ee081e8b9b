-- Baseline for the deactivation benchmark: a dry run of deactivating the first 100,000 active
-- persons of the membership demo, hand-written as set-based SQL (SQLite), under the bench model
-- (the membership preset with its four rules also on deactivate). The same work as
-- `offboard deactivate --dry-run --json`: the candidates, each rule's blockers grouped per
-- customer (count, summed amount, the ids), the plan as one JSON line per customer, the
-- summary; then roll back. Compare with scripts/bench-lifecycle.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA secure_delete = ON;
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE cand (id INTEGER PRIMARY KEY);
INSERT INTO cand SELECT id FROM customers WHERE status = 'active' AND kind = 'person' ORDER BY id LIMIT 100000;
CREATE TEMP TABLE blk (id INTEGER, rule TEXT, n INTEGER, amount INTEGER, ids TEXT);
INSERT INTO blk SELECT customer_id, 'open-orders', count(*), sum(total), group_concat(id) FROM "order" WHERE customer_id IN cand AND stage NOT IN ('CLOSED', 'CANCELLED', 'COMPLETED') GROUP BY customer_id;
INSERT INTO blk SELECT customer_id, 'unpaid-invoices', count(*), sum(balance), group_concat(id) FROM invoice WHERE customer_id IN cand AND balance != 0 GROUP BY customer_id;
INSERT INTO blk SELECT customer_id, 'active-subscriptions', count(*), NULL, group_concat(id) FROM subscription WHERE customer_id IN cand AND status GLOB 'A*' GROUP BY customer_id;
INSERT INTO blk SELECT provider_id, 'owed-referrals', count(*), sum(referral_fee), group_concat(id) FROM referral WHERE provider_id IN cand AND referral_fee > 0 AND ready_to_invoice = 1 AND order_number = 0 GROUP BY provider_id;
CREATE INDEX blk_id ON blk (id);
SELECT json_object('id', c.id, 'number', c.number, 'name', c.name,
         'outcome', CASE WHEN b.id IS NULL THEN 'proceeds' ELSE 'blocked' END,
         'blockers', b.list)
  FROM cand JOIN customers c ON c.id = cand.id
  LEFT JOIN (SELECT id, json_group_array(json_object('rule', rule, 'count', n, 'amount', amount, 'ids', ids)) AS list FROM blk GROUP BY id) b ON b.id = c.id
  ORDER BY c.id;
SELECT (SELECT count(*) FROM cand) AS candidates, (SELECT count(DISTINCT id) FROM blk) AS blocked;
SELECT rule, count(*) FROM blk GROUP BY rule;
ROLLBACK;
