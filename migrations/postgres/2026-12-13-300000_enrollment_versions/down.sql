ALTER TABLE enrollments DROP COLUMN course_version;
