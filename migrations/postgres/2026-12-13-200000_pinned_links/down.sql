ALTER TABLE resource_relations DROP COLUMN target_version;
