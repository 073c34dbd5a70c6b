-------------------------------------------------------------------------------
-- Cursor signing keys
-------------------------------------------------------------------------------

-- The keys that sign cursors.  No role holds any privilege on them: page()
-- and friends read them from C without a permission check (they only feed
-- them to HMAC), and rotate_cursor_key() lets the extension's current owner
-- or a superuser write them, checking that itself.  Not marked with pg_extension_config_dump: secrets stay out of
-- dumps, and a restored database gets a fresh key from CREATE EXTENSION.
CREATE TABLE resilience.cursor_keys (
    id bigint PRIMARY KEY,
    key bytea NOT NULL CHECK (pg_catalog.length(key) OPERATOR(pg_catalog.=) 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON TABLE resilience.cursor_keys FROM PUBLIC;

COMMENT ON TABLE resilience.cursor_keys IS
'HMAC-SHA256 keys signing pagination cursors: the newest signs, it and the previous one verify; readable by no ordinary role';

CREATE FUNCTION resilience.rotate_cursor_key()
RETURNS void
AS 'MODULE_PATHNAME', 'cursor_rotate_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION resilience.rotate_cursor_key() IS
'make a new cursor signing key; cursors signed with the previous key stay valid until the next rotation (extension owner or superuser)';

-- the first key
SELECT resilience.rotate_cursor_key();

