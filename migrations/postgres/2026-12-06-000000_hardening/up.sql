-- Logins: the lock-out is kept per (address, client IP), so nobody can
-- lock an account out from elsewhere; an address-wide brake only spaces
-- out attempts from clients that never signed in to it.
DROP TABLE login_throttle;

-- Failed logins per attempted address (known or not, so throttling
-- reveals nothing) and client IP: `threshold` of them lock that pair.
CREATE TABLE login_failures (
    email_normalized TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (email_normalized, client_ip)
);

-- Failed logins per address from every client, and the next free turn of
-- the brake once they pass its threshold.
CREATE TABLE login_brakes (
    email_normalized TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    next_turn_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- Client IPs that signed in to an address (or reset its password through
-- the emailed link): the brake lets them by.
CREATE TABLE login_known_clients (
    email_normalized TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    last_success_at TIMESTAMP NOT NULL,
    PRIMARY KEY (email_normalized, client_ip)
);

-- /readyz commits a write here: a database that can be read but not
-- written (read-only, disk full) is not ready.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY NOT NULL,
    checked_at TIMESTAMP NOT NULL
);
