/* resilience--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION resilience UPDATE TO '1.1'" to load this file. \quit

-- Every change to the SQL objects since 1.0, in the order of src/*.sql.  The
-- upgrade suite (sql/upgrade.sql) checks that 1.0 plus this script gives the
-- same objects as a fresh install of 1.1.
