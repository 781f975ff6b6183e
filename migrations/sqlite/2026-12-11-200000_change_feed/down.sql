DROP TABLE feed_state;
DROP TABLE feed_viewer_log;
DROP TABLE feed_viewers;
DROP TABLE feed_log;
DROP TABLE feed_subjects;
