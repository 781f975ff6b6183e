-- Nothing to do: SQLite compares text as bytes already (BINARY). The
-- PostgreSQL twin of this migration gives its facet values and vocabulary
-- words the same order.
SELECT 1;
