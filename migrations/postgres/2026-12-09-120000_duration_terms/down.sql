DELETE FROM resource_terms WHERE facet = 'duration_hours';
