//! `/auth/*`: registration, verification, login, tokens, logout, reset.
