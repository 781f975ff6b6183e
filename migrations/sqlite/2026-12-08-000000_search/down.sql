DROP INDEX resources_updated_idx;
DROP TABLE search_words;
DROP TRIGGER resource_search_update;
DROP TRIGGER resource_search_delete;
DROP TRIGGER resource_search_insert;
DROP TABLE resource_fts;
DROP TABLE resource_search;
