//! `/institutions*`, `/invitations/accept`, `/audit-events` and the access policy table.
