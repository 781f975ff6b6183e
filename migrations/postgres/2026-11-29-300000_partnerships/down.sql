DROP TABLE partnership_resources;
DROP TABLE partnership_coordinators;
DROP TABLE partnership_members;
DROP TABLE partnerships;
