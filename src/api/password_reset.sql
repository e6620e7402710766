-- src/api/password_reset.sql: resetting a forgotten password over PostgREST (anonymous).
-- See docs/security.md.

-- API: Public

CREATE FUNCTION api_impl.request_password_reset(email pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc.request_password_reset(email);
    -- the same answer whether or not the address has an account
    RETURN jsonb_build_object('requested', true);
END;
$$;
SELECT dwc._declare_http('api_impl.request_password_reset',
  'Forgot password (POST /rpc/request_password_reset {"email"}): the account with this address, if any, gets an '
  'email with a one-hour code. Anyone.',
  access => 'anon', grp => 'account');

CREATE FUNCTION api_impl.reset_password(token pg_catalog.text, new_password pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('reset', dwc.reset_password(token, new_password));
SELECT dwc._declare_http('api_impl.reset_password',
  'Set a new password with the emailed code (POST /rpc/reset_password {"token", "new_password"}); every session '
  'ends. Anyone.',
  access => 'anon', grp => 'account');
