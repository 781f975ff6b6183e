-- A course's modules, in a dense 1..n order kept by the application under
-- the course row's lock.
CREATE TABLE course_modules (
    id TEXT PRIMARY KEY NOT NULL,
    course_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    -- Markdown, or a link to the content (at least one of the two)
    content TEXT,
    content_url TEXT,
    duration_minutes INTEGER,
    download_bytes BIGINT,
    required BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX course_modules_course_idx ON course_modules (course_id, position);

-- One per learner and course; withdrawing keeps the row (and the progress).
CREATE TABLE enrollments (
    course_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- active | completed | withdrawn
    status TEXT NOT NULL,
    enrolled_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    withdrawn_at TIMESTAMP,
    completed_at TIMESTAMP,
    -- the public, verifiable id of a completion
    completion_id TEXT UNIQUE,
    PRIMARY KEY (course_id, user_id)
);
CREATE INDEX enrollments_user_idx ON enrollments (user_id, enrolled_at);
CREATE INDEX enrollments_course_idx ON enrollments (course_id, enrolled_at);

CREATE TABLE module_completions (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    module_id TEXT NOT NULL REFERENCES course_modules (id) ON DELETE CASCADE,
    course_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    completed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, module_id)
);
CREATE INDEX module_completions_course_idx ON module_completions (course_id, user_id);
