DROP TABLE event_institutions;
DROP TABLE events;
