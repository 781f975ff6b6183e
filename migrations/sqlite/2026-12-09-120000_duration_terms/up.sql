-- A course's duration as a filter term (`max_duration_hours`): facet
-- `duration_hours`, the hours zero-padded to 13 integer digits and 6
-- decimals (`0000000000012.500000`) so that text order is number order and
-- `value <= …` is a range of the (facet, value, resource_id) key. The
-- application writes the same form (domain::resource::duration_term); this
-- backfills the courses stored before.
INSERT INTO resource_terms (resource_id, facet, value)
SELECT id, 'duration_hours', printf('%020.6f', json_extract(details, '$.duration_hours'))
FROM resources
WHERE kind = 'course'
  AND json_valid(details)
  AND json_type(details, '$.duration_hours') IN ('integer', 'real')
  AND json_extract(details, '$.duration_hours') BETWEEN 0 AND 1000000000000
  AND NOT EXISTS (
      SELECT 1 FROM resource_terms t
      WHERE t.resource_id = resources.id AND t.facet = 'duration_hours'
  );
