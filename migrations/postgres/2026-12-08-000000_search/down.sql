DROP INDEX resources_updated_idx;
DROP TABLE search_words;
DROP TABLE resource_search;
