-- src/security/password_reset.sql: resetting a forgotten password by email. The mail itself
-- is sent by the notifications (src/notify/account_mail.sql), above this layer, through the
-- hook point account_mail (src/core/hooks.sql). See docs/security.md.
--
-- A request never says whether the address has an account (no enumeration); a token is
-- 32 random bytes, stored as its SHA-256 only, good for one hour and one use; using it
-- sets the new password (which must pass the policy), ends every session and lifts a
-- lockout. Requests are limited to 3 an hour per account.

-- API: Private (tables)

CREATE TABLE dwc.password_resets (
    token_hash pg_catalog.bytea PRIMARY KEY,
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at pg_catalog.timestamptz NOT NULL,
    used_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.password_resets IS
  'Password reset tokens (their SHA-256): one hour, one use.';
SELECT pg_catalog.pg_extension_config_dump('dwc.password_resets', '');
CREATE INDEX password_resets_user ON dwc.password_resets (user_id, created_at);
REVOKE ALL ON dwc.password_resets FROM PUBLIC;

-- API: Public

CREATE FUNCTION dwc.request_password_reset(email pg_catalog.text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
    token text;
BEGIN
    -- whether mail can go out is asked first, whatever the address: the answer must not depend
    -- on whether the address has an account
    PERFORM dwc._call_hook('account_mail', '{}');
    SELECT * INTO u FROM dwc.users x WHERE lower(x.email) = lower(request_password_reset.email) AND x.status = 'active';
    IF NOT FOUND THEN
        PERFORM dwc._security_event('password_reset_unknown', 'info', NULL, jsonb_build_object('email', left(email, 254)));
        RETURN;
    END IF;
    IF (SELECT count(*) FROM dwc.password_resets r WHERE r.user_id = u.id AND r.created_at > now() - interval '1 hour') >= 3 THEN
        PERFORM dwc._security_event('password_reset_throttled', 'warning', u.id::text, '{}');
        RETURN;
    END IF;
    token := dwc._base64url(dwc._random_bytes(32));
    INSERT INTO dwc.password_resets (token_hash, user_id, expires_at)
    VALUES (sha256(convert_to(token, 'UTF8')), u.id, now() + interval '1 hour');
    PERFORM dwc._call_hook('account_mail',
                           jsonb_build_object('user_id', u.id, 'template', 'security_password_reset',
                                              'vars', jsonb_build_object('username', u.username, 'token', token,
                                                                         'expires_at', now() + interval '1 hour'),
                                              'security_event', 'password_reset_requested'));
    PERFORM dwc._security_event('password_reset_requested', 'info', u.id::text, '{}');
END;
$$;
COMMENT ON FUNCTION dwc.request_password_reset(pg_catalog.text) IS
  'Emails the account with this address a one-hour, one-use code to set a new password with '
  'dwc.reset_password(), through dwc.security_alert_channel. Says nothing about whether the address has an '
  'account; at most 3 requests an hour per account. Anyone.';
GRANT EXECUTE ON FUNCTION dwc.request_password_reset(pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc.reset_password(token pg_catalog.text, new_password pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.password_resets;
    u dwc.users;
BEGIN
    SELECT * INTO r FROM dwc.password_resets x WHERE x.token_hash = sha256(convert_to(coalesce(token, ''), 'UTF8')) FOR UPDATE;
    IF NOT FOUND OR r.used_at IS NOT NULL OR r.expires_at <= now() THEN
        PERFORM dwc._security_event('password_reset_invalid', 'warning', r.user_id::text,
                                    jsonb_build_object('reason', CASE WHEN r.user_id IS NULL THEN 'unknown'
                                                                      WHEN r.used_at IS NOT NULL THEN 'used'
                                                                      ELSE 'expired' END));
        RAISE EXCEPTION 'invalid or expired password reset code' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    SELECT * INTO u FROM dwc.users WHERE id = r.user_id;
    IF new_password IS NULL THEN
        RAISE EXCEPTION 'a new password is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._check_password(new_password, u.username);
    UPDATE dwc.password_resets SET used_at = now() WHERE token_hash = r.token_hash;
    UPDATE dwc.users SET password_hash = dwc.password_hash(new_password), password_changed_at = now(),
           locked_until = NULL, updated_at = now()
     WHERE id = u.id;
    UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'password reset'
     WHERE user_id = u.id AND revoked_at IS NULL;
    PERFORM dwc._security_event('password_reset', 'info', u.id::text, '{}');
    RETURN true;
END;
$$;
COMMENT ON FUNCTION dwc.reset_password(pg_catalog.text, pg_catalog.text) IS
  'Sets a new password with a code from dwc.request_password_reset() (one use, one hour; the password must '
  'pass the policy), ends every session of the account and lifts a lockout. Anyone.';
GRANT EXECUTE ON FUNCTION dwc.reset_password(pg_catalog.text, pg_catalog.text) TO PUBLIC;
