-- resilience tour: install the extension in a fresh database
CREATE EXTENSION resilience;
SELECT extname, extversion, extnamespace::regnamespace AS schema
FROM pg_extension WHERE extname = 'resilience';
