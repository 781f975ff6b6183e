-- A resource's terms with their values in the index itself: facet counts
-- join the matching resources to their terms by `resource_id` and read
-- `facet` and `value` from the index alone (no table row per term).
CREATE INDEX resource_terms_by_resource_idx ON resource_terms (resource_id, facet, value);
DROP INDEX resource_terms_resource_idx;
