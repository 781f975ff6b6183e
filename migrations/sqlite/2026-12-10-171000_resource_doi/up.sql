-- A resource's DOI (10.NNNN/suffix, as domain::resource::check_doi writes
-- it), set by its owners; cited and exported when present.
ALTER TABLE resources ADD COLUMN doi TEXT;
