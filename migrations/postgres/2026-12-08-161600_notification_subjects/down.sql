DROP INDEX notifications_unread_idx;
ALTER TABLE notifications DROP COLUMN data;
ALTER TABLE notifications DROP COLUMN subject_id;
ALTER TABLE notifications DROP COLUMN subject_kind;
ALTER TABLE notifications DROP COLUMN event_type;
