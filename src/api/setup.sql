-- src/api/setup.sql: setting dwc up over HTTP, so that a team without psql can start: AI
-- providers, notification channels and job kinds (administrators), real-time rooms and
-- broadcasts (users, as in SQL). See docs/http.md, "Setting up".
--
-- Administrators' bodies run as the extension's owner (src/api/http.sql), so they take only
-- what an administrator may choose: a provider's key is stored encrypted, never returned, and
-- never read from the server's environment or settings (naming one of those is a superuser's
-- choice: with a base URL of their own, it would send the server's secret there); a job
-- kind's outcome hooks, which run as the superuser, are not offered.

-- API: Public

CREATE FUNCTION api_impl.add_ai_provider(name pg_catalog.text, kind pg_catalog.text,
                                         base_url pg_catalog.text DEFAULT NULL,
                                         default_model pg_catalog.text DEFAULT NULL,
                                         api_key pg_catalog.text DEFAULT NULL,
                                         timeout_seconds pg_catalog.int4 DEFAULT 60,
                                         max_retries pg_catalog.int4 DEFAULT 3,
                                         requests_per_minute pg_catalog.int4 DEFAULT 0,
                                         tokens_per_minute pg_catalog.int4 DEFAULT 0,
                                         cost_input_per_1k pg_catalog.numeric DEFAULT 0,
                                         cost_output_per_1k pg_catalog.numeric DEFAULT 0,
                                         cache_ttl_seconds pg_catalog.int4 DEFAULT 3600,
                                         embedding_model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id int4 := dwc.add_provider(name, kind, base_url, default_model, api_key, NULL, NULL,
                                make_interval(secs => timeout_seconds), max_retries, requests_per_minute,
                                tokens_per_minute, cost_input_per_1k, cost_output_per_1k,
                                make_interval(secs => cache_ttl_seconds), embedding_model);
BEGIN
    RETURN (SELECT to_jsonb(p) || jsonb_build_object('id', id) FROM dwc.ai_provider_list p
             WHERE p.name = add_ai_provider.name);
END;
$$;
SELECT dwc._declare_http('api_impl.add_ai_provider',
  'Add an AI provider (POST /rpc/add_ai_provider {"name", "kind": openai, anthropic, google or openai_compatible, '
  '"api_key", "base_url"...}): its key is stored encrypted and never returned. Returns the provider as '
  'ai_provider_list shows it (has_key). Administrators.',
  access => 'admin', grp => 'ai');

CREATE FUNCTION api_impl.set_ai_provider_key(provider pg_catalog.text, api_key pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc.set_provider_key(provider, api_key);
    RETURN jsonb_build_object('provider', provider, 'has_key', api_key IS NOT NULL);
END;
$$;
SELECT dwc._declare_http('api_impl.set_ai_provider_key',
  'Store (encrypted) or clear (null) a provider''s API key; it is never returned. Administrators.',
  access => 'admin', grp => 'ai');

CREATE FUNCTION api_impl.remove_ai_provider(provider pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('removed', dwc.remove_provider(provider));
SELECT dwc._declare_http('api_impl.remove_ai_provider',
  'Remove an AI provider (not builtin): {"removed"}. Administrators.',
  access => 'admin', grp => 'ai');

CREATE FUNCTION api_impl.add_notification_channel(name pg_catalog.text, type pg_catalog.text,
                                                  config pg_catalog.jsonb DEFAULT '{}',
                                                  secret pg_catalog.text DEFAULT NULL,
                                                  senders pg_catalog.text[] DEFAULT '{}',
                                                  rate_per_minute pg_catalog.int4 DEFAULT 0,
                                                  burst pg_catalog.int4 DEFAULT 1,
                                                  max_attempts pg_catalog.int4 DEFAULT 5)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', dwc.add_notification_channel(name, type, config, secret, senders, rate_per_minute,
                                                             burst, max_attempts), 'name', name);
SELECT dwc._declare_http('api_impl.add_notification_channel',
  'Add a notification channel (email, slack, teams, discord, webhook, sms, push, in_app) with its configuration, '
  'its secret (stored encrypted, never returned) and the roles that may send through it. Administrators.',
  access => 'admin', grp => 'notifications');

CREATE FUNCTION api_impl.alter_notification_channel(name pg_catalog.text, changes pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc.alter_notification_channel(name, changes);
    RETURN jsonb_build_object('name', name, 'changed', (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(changes) k));
END;
$$;
SELECT dwc._declare_http('api_impl.alter_notification_channel',
  'Change a channel''s settings (config, secret, senders, rate_per_minute, burst, max_attempts, enabled). '
  'Administrators.',
  access => 'admin', grp => 'notifications');

CREATE FUNCTION api_impl.list_notification_channels()
RETURNS TABLE (id pg_catalog.int4, name pg_catalog.text, type pg_catalog.text, config pg_catalog.jsonb,
               has_secret pg_catalog.bool, senders pg_catalog.text[], rate_per_minute pg_catalog.int4,
               burst pg_catalog.int4, max_attempts pg_catalog.int4, enabled pg_catalog.bool)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT c.id, c.name, c.type, c.config, c.secret IS NOT NULL, c.senders, c.rate_per_minute, c.burst,
           c.max_attempts, c.enabled
      FROM dwc.notification_channels c ORDER BY c.name;
END;
SELECT dwc._declare_http('api_impl.list_notification_channels',
  'The notification channels, without their secrets (has_secret). Administrators. Rows PostgREST can filter, order, '
  'page and count.',
  access => 'admin', grp => 'notifications');

CREATE FUNCTION api_impl.drop_notification_channel(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('dropped', dwc.drop_notification_channel(name));
SELECT dwc._declare_http('api_impl.drop_notification_channel',
  'Drop a notification channel: {"dropped"}. Administrators.',
  access => 'admin', grp => 'notifications');

CREATE FUNCTION api_impl.register_job_kind(kind pg_catalog.text, handler pg_catalog.text,
                                           description pg_catalog.text DEFAULT NULL,
                                           timeout_seconds pg_catalog.int4 DEFAULT NULL,
                                           max_attempts pg_catalog.int4 DEFAULT NULL,
                                           leased pg_catalog.bool DEFAULT false,
                                           final_errors pg_catalog.text[] DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn regprocedure;
BEGIN
    BEGIN
        fn := handler::regprocedure;
    EXCEPTION WHEN undefined_function OR invalid_text_representation OR syntax_error OR invalid_name THEN
        RAISE EXCEPTION 'handler "%" is not a function signature', handler USING ERRCODE = 'undefined_function',
            HINT = 'Write it as schema.name(jsonb).';
    END;
    PERFORM dwc.register_job_kind(kind, fn, description, make_interval(secs => timeout_seconds), max_attempts,
                                  leased, NULL, NULL, final_errors);
    RETURN jsonb_build_object('kind', kind, 'handler', fn::text);
END;
$$;
SELECT dwc._declare_http('api_impl.register_job_kind',
  'Register (or change) a job kind run by a SQL function handler(payload jsonb) returns jsonb, as the role '
  'that enqueues its jobs; outcome hooks are for superusers (dwc.register_job_kind). Administrators.',
  access => 'admin', grp => 'tasks');

CREATE FUNCTION api_impl.unregister_job_kind(kind pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('unregistered', dwc.unregister_job_kind(kind));
SELECT dwc._declare_http('api_impl.unregister_job_kind',
  'Unregister a job kind (not a built-in one): {"unregistered"}. Administrators.',
  access => 'admin', grp => 'tasks');

CREATE FUNCTION api_impl.create_room(name pg_catalog.text, members pg_catalog.text[] DEFAULT '{}',
                                     public pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc.create_room(name, members, public);
    RETURN jsonb_build_object('room', name, 'members', members, 'public', public);
END;
$$;
SELECT dwc._declare_http('api_impl.create_room',
  'Create a real-time room (WebSocket room:<name>) with its members (user ids), or public to every signed-in user.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.room_members(name pg_catalog.text, add pg_catalog.text[] DEFAULT '{}',
                                      remove pg_catalog.text[] DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('room', name, 'members', to_jsonb(dwc.room_members(name, add, remove)));
SELECT dwc._declare_http('api_impl.room_members',
  'Add and remove members of a room its caller owns (or any, for administrators); returns the members.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.broadcast(room pg_catalog.text, kind pg_catalog.text, payload pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('event_id', dwc.broadcast(room, kind, payload));
SELECT dwc._declare_http('api_impl.broadcast',
  'Send an event to every connection in a room, at commit; its owner and members may: {"event_id"}.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.drop_room(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('dropped', dwc.drop_room(name));
SELECT dwc._declare_http('api_impl.drop_room',
  'Drop a room the caller owns: {"dropped"}.',
  access => 'user', grp => 'notifications');
