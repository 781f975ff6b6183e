DROP INDEX resources_catalog_idx;
