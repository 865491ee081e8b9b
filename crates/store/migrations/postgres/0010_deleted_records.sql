-- offboard core schema, version 10 (PostgreSQL): the records recycle bin. A record deleted for good
-- (lending's processes and payments, a mistake) is kept here, its values as JSON, with the
-- customer it belonged to, until it is restored, a purge takes it past the model's retention,
-- or its customer is erased or forgotten.
CREATE TABLE offboard_deleted_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    customer_id BIGINT,
    owner_id BIGINT,
    data TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    deleted_by TEXT NOT NULL
);
CREATE INDEX offboard_deleted_records_customer ON offboard_deleted_records (customer_id);
