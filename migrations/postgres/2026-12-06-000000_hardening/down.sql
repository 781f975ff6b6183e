DROP TABLE readiness_probe;
DROP TABLE login_known_clients;
DROP TABLE login_brakes;
DROP TABLE login_failures;
CREATE TABLE login_throttle (
    email_normalized TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
