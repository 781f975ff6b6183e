DROP TABLE client_sessions;
DROP TABLE client_apps;
