-- A course's duration as a filter term (`max_duration_hours`): facet
-- `duration_hours`, the hours zero-padded to 13 integer digits and 6
-- decimals (`0000000000012.500000`) so that text order is number order and
-- `value <= …` is a range of the (facet, value, resource_id) key. The
-- application writes the same form (domain::resource::duration_term); this
-- backfills the courses stored before.
INSERT INTO resource_terms (resource_id, facet, value)
SELECT id, 'duration_hours',
       to_char((details::jsonb ->> 'duration_hours')::numeric, 'FM0000000000000.000000')
FROM resources
WHERE kind = 'course'
  AND CASE WHEN jsonb_typeof(details::jsonb -> 'duration_hours') = 'number'
           THEN (details::jsonb ->> 'duration_hours')::numeric BETWEEN 0 AND 1000000000000
           ELSE false END
ON CONFLICT DO NOTHING;
