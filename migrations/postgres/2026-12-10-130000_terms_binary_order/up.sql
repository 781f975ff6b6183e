-- Facet values and vocabulary words are compared as bytes, as SQLite does:
-- a prefix (type-ahead tags, `max_duration_hours`, "did you mean") is then a
-- range of their B-tree indexes whatever the database's locale (under any
-- collation but "C" PostgreSQL cannot walk an index for LIKE 'sp%', and a
-- locale's order need not keep a prefix's words together).
ALTER TABLE resource_terms ALTER COLUMN value TYPE TEXT COLLATE "C";
ALTER TABLE search_words ALTER COLUMN word TYPE TEXT COLLATE "C";
