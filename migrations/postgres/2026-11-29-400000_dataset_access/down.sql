DROP TABLE file_links;
DROP TABLE access_requests;
