-- The course version a learner started on (issue #19): kept until they
-- choose to move on (POST /courses/{id}/enrollment/upgrade). Existing
-- enrollments are on their course's latest version.
ALTER TABLE enrollments ADD COLUMN course_version TEXT;
UPDATE enrollments SET course_version = (
    SELECT v.major || '.' || v.minor
    FROM resource_versions v
    WHERE v.resource_id = enrollments.course_id
    ORDER BY v.major DESC, v.minor DESC
    LIMIT 1
);
