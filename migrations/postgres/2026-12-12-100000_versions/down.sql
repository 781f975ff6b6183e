DROP TABLE resource_drafts;
DROP TABLE resource_versions;
