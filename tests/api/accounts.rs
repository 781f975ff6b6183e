//! `/me`, `/me/tokens`, `/me/notifications*`, `/users`, `/admin/outbox`.
