-- src/notify/preferences.sql: users' addresses, and their preferences and quiet hours.

-- API: Private

-- the user a call is about: the caller's own dwc user, or any for administrators
CREATE FUNCTION dwc._notify_user(user_id pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := dwc.current_user_id();
BEGIN
    IF user_id IS NULL OR user_id = me THEN
        IF me IS NULL THEN
            RAISE EXCEPTION 'no dwc user: sign in, or name the user' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN me;
    END IF;
    IF NOT dwc._may_manage(caller, to_regrole('dwc_admin'), NULL) THEN
        RAISE EXCEPTION 'only administrators manage the notification settings of other users'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN user_id;
END;
$$;

CREATE FUNCTION dwc._set_notification_preference(caller pg_catalog.oid, type pg_catalog.text DEFAULT '*',
                                                 enabled pg_catalog.bool DEFAULT true,
                                                 quiet_start pg_catalog.time DEFAULT NULL,
                                                 quiet_end pg_catalog.time DEFAULT NULL,
                                                 timezone pg_catalog.text DEFAULT 'UTC',
                                                 user_id pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uid text := dwc._notify_user(user_id, caller);
    p dwc.notification_preferences;
BEGIN
    IF timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = timezone)
       AND NOT EXISTS (SELECT 1 FROM pg_timezone_abbrevs WHERE abbrev = timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', timezone USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.notification_preferences AS np (user_id, type, enabled, quiet_start, quiet_end, timezone)
    VALUES (uid, coalesce(type, '*'), coalesce(enabled, true), quiet_start, quiet_end, coalesce(timezone, 'UTC'))
    ON CONFLICT ON CONSTRAINT notification_preferences_pkey DO UPDATE
       SET enabled = excluded.enabled, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
           timezone = excluded.timezone
    RETURNING * INTO p;
    RETURN to_jsonb(p);
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid notification preference' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'type: *, email, slack, teams, discord, webhook, sms, push or in_app; quiet hours need both '
                     'quiet_start and quiet_end, and they differ.';
END;
$$;
SELECT dwc._declare_public('dwc._set_notification_preference',
  'The signed-in user''s (administrators: any user''s) choice for a channel type or * (all): enabled, and '
  'quiet hours [quiet_start, quiet_end) in timezone, possibly across midnight, during which low and normal '
  'priority email, sms, push and chat notifications wait.');

CREATE FUNCTION dwc._add_notification_address(caller pg_catalog.oid, type pg_catalog.text,
                                              address pg_catalog.text, user_id pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uid text := dwc._notify_user(user_id, caller);
    sub jsonb;
    new_id int8;
BEGIN
    IF type = 'sms' AND address !~ '^\+[1-9][0-9]{6,14}$' THEN
        RAISE EXCEPTION 'an sms address is a phone number in E.164 form (+ and 7 to 15 digits)'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'email' AND (address !~ '^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$' OR length(address) > 254) THEN
        RAISE EXCEPTION 'invalid email address' USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'push' THEN
        BEGIN
            sub := address::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            sub := NULL;
        END;
        IF jsonb_typeof(sub->'endpoint') IS DISTINCT FROM 'string' OR (sub->>'endpoint') !~ '^https?://'
           OR jsonb_typeof(sub->'keys'->'p256dh') IS DISTINCT FROM 'string'
           OR jsonb_typeof(sub->'keys'->'auth') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a push address is a Web Push subscription: {"endpoint", "keys": {"p256dh", "auth"}}'
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Send the browser''s PushSubscription.toJSON() as it is.';
        END IF;
        address := jsonb_build_object('endpoint', sub->'endpoint', 'keys',
                                      jsonb_build_object('p256dh', sub->'keys'->'p256dh', 'auth', sub->'keys'->'auth'))::text;
    ELSIF type IS NULL OR type NOT IN ('sms', 'email', 'push') THEN
        RAISE EXCEPTION 'addresses are of type email, sms or push' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.notification_addresses (user_id, type, address) VALUES (uid, type, address)
    ON CONFLICT ON CONSTRAINT notification_addresses_user_id_type_address_key DO UPDATE SET created_at = excluded.created_at
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;
SELECT dwc._declare_public('dwc._add_notification_address',
  'Adds an address of the signed-in user (administrators: any user): sms (E.164 number), email, or push (the '
  'browser''s PushSubscription JSON). Returns its id.');

CREATE FUNCTION dwc._remove_notification_address(caller pg_catalog.oid, id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dwc.notification_addresses a
     WHERE a.id = _remove_notification_address.id
       AND (a.user_id = dwc.current_user_id() OR dwc._may_manage(caller, to_regrole('dwc_admin'), NULL));
    RETURN FOUND;
END;
$$;
SELECT dwc._declare_public('dwc._remove_notification_address',
  'Removes one of the signed-in user''s addresses (administrators: anyone''s); false when there was none.');

CREATE FUNCTION dwc._notification_settings(caller pg_catalog.oid, user_id pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uid text := dwc._notify_user(user_id, caller);
BEGIN
    RETURN jsonb_build_object(
        'user_id', uid,
        'preferences', (SELECT coalesce(jsonb_agg(jsonb_build_object('type', p.type, 'enabled', p.enabled,
                                  'quiet_start', p.quiet_start, 'quiet_end', p.quiet_end, 'timezone', p.timezone)
                                  ORDER BY p.type), '[]')
                          FROM dwc.notification_preferences p WHERE p.user_id = uid),
        'addresses', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'type', a.type, 'address',
                                CASE a.type WHEN 'push' THEN (a.address::jsonb)->'endpoint' ELSE to_jsonb(a.address) END)
                                ORDER BY a.id), '[]')
                        FROM dwc.notification_addresses a WHERE a.user_id = uid));
END;
$$;
SELECT dwc._declare_public('dwc._notification_settings',
  'The signed-in user''s (administrators: any user''s) notification preferences and addresses.');
