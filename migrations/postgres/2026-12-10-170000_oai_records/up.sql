-- OAI-PMH (api::oai): the records a harvester has been or may be shown, kept
-- from the domain events by app::oai::catch_up. A resource gets a row the
-- first time an anonymous reader may see it; the row stays for ever
-- (deletedRecord=persistent): `deleted` is set when the resource is no
-- longer public (visibility narrowed, institution no longer verified,
-- resource gone). `datestamp` is when what a harvester sees last changed.
-- kind, institution and country are the set memberships (the institution's
-- country), kept as they last were for deleted records.
CREATE TABLE oai_records (
    resource_id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    institution_id TEXT NOT NULL,
    country TEXT NOT NULL,
    datestamp TIMESTAMP NOT NULL,
    deleted BOOLEAN NOT NULL
);
CREATE INDEX oai_records_datestamp_idx ON oai_records (datestamp, resource_id);
CREATE INDEX oai_records_institution_idx ON oai_records (institution_id, datestamp, resource_id);

-- How far the projection has read the event log (one row, id = 1).
CREATE TABLE oai_state (
    id INTEGER PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);
