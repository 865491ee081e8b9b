-- offboard core schema, version 13 (PostgreSQL): a user can be disabled — kept (the audit log
-- names them; an admin can enable them again) but unable to log in or use a token.
ALTER TABLE offboard_users ADD COLUMN disabled_at TIMESTAMP;
