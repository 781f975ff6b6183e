ALTER TABLE search_words ALTER COLUMN word TYPE TEXT COLLATE "default";
ALTER TABLE resource_terms ALTER COLUMN value TYPE TEXT COLLATE "default";
