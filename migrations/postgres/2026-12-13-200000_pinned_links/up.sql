-- A typed link may name one version of the linked resource (`trained_on`
-- dataset X at 1.2, issue #19); NULL: the latest, whatever it is.
ALTER TABLE resource_relations ADD COLUMN target_version TEXT;
