DROP TABLE module_completions;
DROP TABLE enrollments;
DROP TABLE course_modules;
