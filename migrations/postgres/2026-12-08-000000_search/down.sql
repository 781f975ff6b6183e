-- Refilled with title, summary and tags when the application writes a resource again.
ALTER TABLE resources ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
DROP TABLE search_words;
DROP TABLE resource_search;
