DROP TABLE embargo_watchers;
DROP INDEX resource_deadlines_due;
DROP TABLE resource_deadlines;
ALTER TABLE dataset_files DROP COLUMN embargo_reason;
ALTER TABLE dataset_files DROP COLUMN embargo_until;
-- Code before this migration knows no `deaccessioned` status.
UPDATE resources SET status = 'archived' WHERE status = 'deaccessioned';
DROP TABLE resource_deaccessions;
