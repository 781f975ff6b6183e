-- Notifications an app can render in its own language: the domain event
-- that caused each one (`event_type`, e.g. access_request.approved), what it
-- is about (`subject_kind`, `subject_id`) and the structured fields to
-- render it with (`data`, JSON; docs/FRONTEND-NOTIFICATIONS.md). The app
-- route is derived from the kind and the data when read.
-- Rows written before this migration (or by an older instance during a
-- rolling upgrade) leave them NULL: app::notifications derives defaults
-- from `kind`, `title` and `link` when it reads them.
ALTER TABLE notifications ADD COLUMN event_type TEXT;
ALTER TABLE notifications ADD COLUMN subject_kind TEXT;
ALTER TABLE notifications ADD COLUMN subject_id TEXT;
ALTER TABLE notifications ADD COLUMN data TEXT;

-- GET /me/notifications/unread-count and POST /me/notifications/read-all.
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
