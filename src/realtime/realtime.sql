-- src/realtime/realtime.sql: the real-time WebSocket gateway's SQL side: named rooms, the
-- requests of its clients (authentication, joins, resumption) and its statistics.
-- See docs/realtime.md.
--
-- The gateway (src/realtime/gateway.c) is a background worker; it keeps each connection's
-- state (who, which rooms) and hands every request that needs the database to
-- dwc._rt_request(), which answers and returns the new state. Which events a connection
-- receives follows one rule, dwc._rt_visible(), that the gateway applies in C to live
-- events (the same rule, kept beside it) and this file applies to replays.

-- API: Private (tables)

CREATE TABLE dwc.realtime_rooms (
    name pg_catalog.text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    members pg_catalog.text[] NOT NULL DEFAULT '{}',
    public pg_catalog.bool NOT NULL DEFAULT false,
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.realtime_rooms IS
  'Named rooms of the WebSocket gateway: who may join (members: dwc user ids; public: any signed-in user). '
  'Events with subject room:<name> go to the connections that joined it.';
SELECT pg_catalog.pg_extension_config_dump('dwc.realtime_rooms', '');
SELECT dwc._enable_owner_rls('dwc.realtime_rooms', 'dwc._row_visible(owner, owner_user)');

-- committed event ids to the gateway (src/realtime/ring.c); returns at once when no gateway
-- serves this database
CREATE FUNCTION dwc._realtime_capture() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__realtime_capture';
COMMENT ON FUNCTION dwc._realtime_capture() IS
  'Private: notes the ids of inserted events for the WebSocket gateway, which gets them at commit.';
CREATE TRIGGER events_realtime AFTER INSERT ON dwc.events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._realtime_capture();

-- API: Private

-- Does a connection (user uid, administrator or not, in rooms) receive event e? Its user's
-- own events (room "user"), events about a subject it joined (chain:12, ai_workflow_run:3)
-- that it may see, events of a named room it joined (room:<name>), everything for an
-- administrator in room "*". src/realtime/gateway.c (visible()) applies the same rule.
CREATE FUNCTION dwc._rt_visible(uid pg_catalog.text, admin pg_catalog.bool, rooms pg_catalog.text[],
                                e dwc.events)
RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((admin AND '*' = ANY (rooms))
                OR ('user' = ANY (rooms) AND e.owner_user = uid)
                OR (e.subject = ANY (rooms) AND (e.subject LIKE 'room:%' OR e.owner_user = uid OR admin)), false);

-- the user a credential stands for: {"token": a dwc access token} or {"api_key"}
CREATE FUNCTION dwc._rt_authenticate(cred pg_catalog.jsonb) RETURNS dwc.users
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claims jsonb;
    chk record;
    u dwc.users;
BEGIN
    IF cred ? 'token' THEN
        claims := dwc.jwt_verify(cred->>'token');
        SELECT * INTO u FROM dwc.users WHERE id::text = claims->>'sub';
    ELSIF cred ? 'api_key' THEN
        chk := dwc._api_key_check(cred->>'api_key');
        IF chk.problem IS NOT NULL THEN
            RAISE EXCEPTION 'invalid API key' USING ERRCODE = 'invalid_authorization_specification';
        END IF;
        SELECT * INTO u FROM dwc.users WHERE id = (chk.k).user_id;
    ELSE
        RAISE EXCEPTION 'authenticate with "token" (a dwc access token) or "api_key"'
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    IF u.id IS NULL OR u.status <> 'active' OR u.locked_until > now() THEN
        RAISE EXCEPTION 'the account is unknown, disabled or locked' USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    RETURN u;
END;
$$;

-- may the connection's user join room?
CREATE FUNCTION dwc._rt_may_join(uid pg_catalog.text, admin pg_catalog.bool, room pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    obj int8;
BEGIN
    IF room = 'user' THEN
        RETURN true;
    ELSIF room = '*' THEN
        RETURN admin;
    ELSIF room ~ '^(chain|ai_workflow_run):[0-9]{1,18}$' THEN
        obj := split_part(room, ':', 2)::int8;
        IF room LIKE 'chain:%' THEN
            RETURN EXISTS (SELECT 1 FROM dwc.chains c WHERE c.id = obj AND (admin OR c.owner_user = uid));
        END IF;
        RETURN EXISTS (SELECT 1 FROM dwc.ai_workflow_runs r WHERE r.id = obj AND (admin OR r.owner_user = uid));
    ELSIF room LIKE 'room:%' THEN
        RETURN EXISTS (SELECT 1 FROM dwc.realtime_rooms r
                        WHERE r.name = substr(room, 6) AND (admin OR r.public OR uid = ANY (r.members) OR r.owner_user = uid));
    END IF;
    RETURN false;
END;
$$;

-- One request of a gateway client. state: {"user_id", "username", "admin", "rooms"} (or {}
-- before authentication); returns {"state", "reply", "events"?, "close"?}.
CREATE FUNCTION dwc._rt_request(state pg_catalog.jsonb, request pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
    t text := request->>'type';
    uid text := state->>'user_id';
    admin bool := coalesce((state->>'admin')::bool, false);
    rooms text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(state->'rooms', '[]')));
    room text := request->>'room';
    evs jsonb;
BEGIN
    IF t = 'auth' THEN
        BEGIN
            u := dwc._rt_authenticate(request);
        EXCEPTION WHEN invalid_authorization_specification OR invalid_password THEN
            PERFORM dwc._security_event('websocket_auth_failed', 'warning', NULL,
                                        jsonb_build_object('reason', SQLERRM));
            RETURN jsonb_build_object('state', state, 'close', true,
                                      'reply', jsonb_build_object('type', 'error', 'code', 'auth_failed', 'message', SQLERRM));
        END;
        admin := u.role = 'dwc_admin';
        RETURN jsonb_build_object(
            'state', jsonb_build_object('user_id', u.id, 'username', u.username, 'admin', admin, 'rooms', jsonb_build_array('user')),
            'reply', jsonb_build_object('type', 'welcome', 'user_id', u.id, 'username', u.username, 'rooms', jsonb_build_array('user')));
    END IF;
    IF uid IS NULL THEN
        RETURN jsonb_build_object('state', state, 'close', true, 'reply',
            jsonb_build_object('type', 'error', 'code', 'not_authenticated', 'message', 'send {"type": "auth", "token"} first'));
    END IF;
    IF t = 'join' THEN
        IF room IS NULL OR length(room) > 80 OR NOT dwc._rt_may_join(uid, admin, room) THEN
            RETURN jsonb_build_object('state', state, 'reply', jsonb_build_object('type', 'error', 'code', 'forbidden',
                'room', room, 'message', 'no such room, or you may not join it'));
        END IF;
        IF NOT room = ANY (rooms) THEN
            IF cardinality(rooms) >= 50 THEN
                RETURN jsonb_build_object('state', state, 'reply', jsonb_build_object('type', 'error', 'code', 'too_many_rooms',
                    'message', 'a connection joins at most 50 rooms'));
            END IF;
            rooms := rooms || room;
        END IF;
        RETURN jsonb_build_object('state', state || jsonb_build_object('rooms', to_jsonb(rooms)),
                                  'reply', jsonb_build_object('type', 'joined', 'room', room));
    ELSIF t = 'resume' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('type', 'event', 'id', e.id, 'at', e.at, 'kind', e.kind,
                                                     'subject', e.subject, 'payload', e.payload) ORDER BY e.id), '[]')
          INTO evs
          FROM (SELECT * FROM dwc.events e
                 WHERE e.id > coalesce((request->>'last_event_id')::int8, 0)
                   AND dwc._rt_visible(uid, admin, rooms, e)
                 ORDER BY e.id LIMIT 1000) e;
        RETURN jsonb_build_object('state', state, 'events', evs,
                                  'reply', jsonb_build_object('type', 'resumed', 'count', jsonb_array_length(evs)));
    END IF;
    RETURN jsonb_build_object('state', state, 'reply', jsonb_build_object('type', 'error', 'code', 'bad_request',
        'message', 'types: auth, join, leave, resume, ping'));
END;
$$;
COMMENT ON FUNCTION dwc._rt_request(pg_catalog.jsonb, pg_catalog.jsonb) IS
  'Private: a request of a WebSocket client (auth, join, resume) for the gateway: the reply, the new state, '
  'events to replay.';

-- ---- rooms ---------------------------------------------------------------------------

CREATE FUNCTION dwc._create_room(caller pg_catalog.oid, name pg_catalog.text,
                                 members pg_catalog.text[] DEFAULT '{}', public pg_catalog.bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO dwc.realtime_rooms (name, members, public, owner, owner_user)
    VALUES (name, coalesce(members, '{}'), coalesce(public, false), caller, dwc.current_user_id());
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'room "%" already exists', name USING ERRCODE = 'unique_violation';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid room name "%"', name USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Lower-case letters, digits, _ . -, up to 63.';
END;
$$;
SELECT dwc._declare_public('dwc._create_room',
  'Creates a named room of the WebSocket gateway: its members (dwc user ids) may join it, or any signed-in '
  'user when public.');

CREATE FUNCTION dwc._room_members(caller pg_catalog.oid, name pg_catalog.text,
                                  add pg_catalog.text[] DEFAULT '{}', remove pg_catalog.text[] DEFAULT '{}')
RETURNS pg_catalog.text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.realtime_rooms;
BEGIN
    SELECT * INTO r FROM dwc.realtime_rooms x WHERE x.name = _room_members.name FOR UPDATE;
    IF NOT FOUND OR NOT dwc._may_manage(caller, r.owner, r.owner_user) THEN
        RAISE EXCEPTION 'room "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE dwc.realtime_rooms x
       SET members = ARRAY(SELECT DISTINCT m FROM unnest(x.members || coalesce(add, '{}')) m
                            WHERE NOT m = ANY (coalesce(remove, '{}')) ORDER BY m)
     WHERE x.name = r.name
    RETURNING members INTO r.members;
    RETURN r.members;
END;
$$;
SELECT dwc._declare_public('dwc._room_members',
  'Adds and removes members of a room of the caller; returns the members.');

CREATE FUNCTION dwc._drop_room(caller pg_catalog.oid, name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dwc.realtime_rooms r WHERE r.name = _drop_room.name AND dwc._may_manage(caller, r.owner, r.owner_user);
    RETURN FOUND;
END;
$$;
SELECT dwc._declare_public('dwc._drop_room',
  'Removes a room of the caller; false when there was none.');

CREATE FUNCTION dwc._broadcast(caller pg_catalog.oid, room pg_catalog.text, kind pg_catalog.text,
                               payload pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.realtime_rooms;
    eid int8;
BEGIN
    SELECT * INTO r FROM dwc.realtime_rooms x WHERE x.name = room;
    IF NOT FOUND OR NOT (dwc._may_manage(caller, r.owner, r.owner_user) OR dwc.current_user_id() = ANY (r.members)) THEN
        RAISE EXCEPTION 'room "%" does not exist, or you are not in it', room USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT dwc._is_event_kind(kind) OR dwc._is_dwc_kind(kind) THEN
        RAISE EXCEPTION 'invalid event kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A dotted lower-case kind of your own, like chat.message.';
    END IF;
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    VALUES (kind, 'room:' || room, coalesce(payload, '{}'), caller, dwc.current_user_id())
    RETURNING id INTO eid;
    RETURN eid;
END;
$$;
SELECT dwc._declare_public('dwc._broadcast',
  'Sends an event (subject room:<room>) to every connection in a room, at commit; its owner and members may. '
  'Returns the event id.');

-- API: Public

CREATE FUNCTION dwc.realtime_stats() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_realtime_stats';
COMMENT ON FUNCTION dwc.realtime_stats() IS
  'The WebSocket gateway: listening (address, port), connections open and in all, rejected, failed '
  'authentications, messages and bytes, events seen and sent, slow clients disconnected, ring overflows, '
  'and each open connection (id, user, rooms, since, messages, queue). Administrators only.';
REVOKE ALL ON FUNCTION dwc.realtime_stats() FROM PUBLIC;
