/* resilience--1.1.sql, built by make from the SQL files in src/: edit those */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION resilience" to load this file. \quit

-- Every object below is schema-qualified; functions that run SQL pin
-- search_path.  No function is SECURITY DEFINER: everything runs with the
-- caller's rights, so grants and row-level security hold.

-- The schema is created by CREATE EXTENSION and owned by the installer; every
-- role may use what is in it (objects that must stay private say so).
GRANT USAGE ON SCHEMA resilience TO PUBLIC;


