DROP TABLE search_words;
DROP TABLE resource_search;
