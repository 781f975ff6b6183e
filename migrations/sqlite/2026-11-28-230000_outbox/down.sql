DROP TABLE outbox_attempts;
DROP INDEX outbox_emails_created_idx;
DROP INDEX outbox_emails_lease_idx;
DROP INDEX outbox_emails_due_idx;
DROP TABLE outbox_emails;
