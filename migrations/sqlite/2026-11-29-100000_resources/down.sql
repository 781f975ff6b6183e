DROP TABLE dataset_files;
DROP TABLE resource_relations;
DROP TABLE resource_terms;
DROP TABLE resources;
