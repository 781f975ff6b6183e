DROP TABLE oai_state;
DROP TABLE oai_records;
