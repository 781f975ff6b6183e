-- The DCAT catalogue's pages (db::catalog): published datasets in listed
-- order, with what the anonymous visibility condition and modified_since
-- read, so that counting them and skipping to a deep page read the index
-- alone, not the rows (each ~1.6 KB of text).
CREATE INDEX resources_catalog_idx ON resources (kind, status, listed_at, id, visibility, institution_id, updated_at);
