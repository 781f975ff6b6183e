CREATE INDEX resource_terms_resource_idx ON resource_terms (resource_id);
DROP INDEX resource_terms_by_resource_idx;
