-- Refilled with title, summary and tags when the application writes a resource again.
ALTER TABLE resources ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
DROP TABLE search_words;
DROP TRIGGER resource_search_update;
DROP TRIGGER resource_search_delete;
DROP TRIGGER resource_search_insert;
DROP TABLE resource_fts;
DROP TABLE resource_search;
