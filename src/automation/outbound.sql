-- src/automation/outbound.sql: calling out from automations. dwc.http() can reach any address
-- the server can, so it is not granted to PUBLIC, and an http action runs with the rights of
-- its automation's owner: one who may not call dwc.http() may still call the hosts that an
-- administrator keeps in dwc.http_allowed_hosts (without redirects), and is told so when the
-- automation is saved, not when every run dies. See docs/automation.md, "Calling out".

-- API: Private (tables)

CREATE TABLE dwc.http_allowed_hosts (
    host pg_catalog.text PRIMARY KEY
        CHECK (host ~ '^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'),
    note pg_catalog.text,
    added_by pg_catalog.oid NOT NULL,
    added_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.http_allowed_hosts IS
  'Hosts that automations of users who may not call dwc.http() may call (http actions): a host name, or '
  '*.domain for its subdomains. Kept by administrators (dwc.allow_http_host).';
GRANT SELECT ON dwc.http_allowed_hosts TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('dwc.http_allowed_hosts', '');
SELECT dwc.audit_table('dwc.http_allowed_hosts');

-- API: Private

-- the host of an http(s) URL, lower-case; NULL for anything else (user info, no host)
CREATE FUNCTION dwc._url_host(url pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN lower(substring(url FROM '^[Hh][Tt][Tt][Pp][Ss]?://([^/?#@:\[\]{}]+)(:[0-9]{1,5})?([/?#]|$)'));
COMMENT ON FUNCTION dwc._url_host(pg_catalog.text) IS
  'Private: the host name of an http or https URL, lower-case; NULL when it has user info, an IP literal in '
  'brackets, a placeholder, or is not such a URL.';

CREATE FUNCTION dwc._http_host_allowed(url pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT 1 FROM dwc.http_allowed_hosts h
                WHERE h.host = dwc._url_host(url)
                   OR (h.host LIKE '*.%' AND dwc._url_host(url) LIKE '%' || substr(h.host, 2)));
COMMENT ON FUNCTION dwc._http_host_allowed(pg_catalog.text) IS
  'Private: is the URL''s host in dwc.http_allowed_hosts (by name, or under a *.domain entry)?';

-- dwc.http() for those without it, to allowed hosts only, never redirected elsewhere
CREATE FUNCTION dwc._http_to_allowed_host(method pg_catalog.text, url pg_catalog.text, headers pg_catalog.jsonb,
                                          body pg_catalog.text, timeout_ms pg_catalog.int4)
RETURNS dwc.http_response
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET dwc.http_max_redirects = 0
AS $$
BEGIN
    IF NOT dwc._http_host_allowed(url) THEN
        RAISE EXCEPTION 'host of "%" is not one that automations may call', url USING ERRCODE = 'insufficient_privilege',
            HINT = 'An administrator adds it with dwc.allow_http_host(); or send a notification through a webhook channel.';
    END IF;
    RETURN dwc.http(method, url, headers, body, timeout_ms);
END;
$$;
COMMENT ON FUNCTION dwc._http_to_allowed_host(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.int4) IS
  'Private: dwc.http() to a host in dwc.http_allowed_hosts, following no redirect; for the http actions of '
  'automations whose owners may not call dwc.http().';
-- the allow-list is its guard: anyone may call it, it calls nothing else
GRANT EXECUTE ON FUNCTION dwc._http_to_allowed_host(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.int4) TO PUBLIC;

-- may an automation's owner call dwc.http() itself?
CREATE FUNCTION dwc._may_call_http(who pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN has_function_privilege(who, 'dwc.http(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.int4)',
                              'EXECUTE');
COMMENT ON FUNCTION dwc._may_call_http(pg_catalog.oid) IS
  'Private: may this role call dwc.http() (superusers, and roles an administrator granted it to)?';
GRANT EXECUTE ON FUNCTION dwc._may_call_http(pg_catalog.oid) TO PUBLIC;

-- saving: every http action (also in decide branches) of an owner without dwc.http() names an
-- allowed host in the fixed part of its URL
CREATE FUNCTION dwc._automation_check_outbound(actions pg_catalog.jsonb, owner pg_catalog.oid) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a jsonb;
    b text;
BEGIN
    IF dwc._may_call_http(owner) THEN
        RETURN;
    END IF;
    FOR a IN SELECT * FROM jsonb_array_elements(actions)
    LOOP
        IF a->>'type' = 'http' AND NOT coalesce(dwc._http_host_allowed(a->>'url'), false) THEN
            RAISE EXCEPTION 'this automation may not call %', coalesce(dwc._url_host(a->>'url'), a->>'url')
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Its owner may not call dwc.http(), and the host is not in dwc.http_allowed_hosts '
                               '(the scheme and host of the URL must be written out, without placeholders).',
                      HINT = 'Send a notification through a webhook channel (a notify action), or ask an administrator '
                             'to allow the host (dwc.allow_http_host).';
        ELSIF a->>'type' = 'decide' THEN
            FOR b IN SELECT * FROM jsonb_object_keys(a->'branches')
            LOOP
                PERFORM dwc._automation_check_outbound(a->'branches'->b, owner);
            END LOOP;
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._automation_check_outbound(pg_catalog.jsonb, pg_catalog.oid) IS
  'Private: refuses (42501) an http action that its automation''s owner could not run: no dwc.http() and a host '
  'not in dwc.http_allowed_hosts.';

CREATE FUNCTION dwc._allow_http_host(caller pg_catalog.oid, host pg_catalog.text,
                                     note pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h dwc.http_allowed_hosts;
BEGIN
    IF NOT dwc._caller_is_admin(caller) THEN
        RAISE EXCEPTION 'only administrators keep the hosts automations may call' USING ERRCODE = 'insufficient_privilege';
    END IF;
    BEGIN
        INSERT INTO dwc.http_allowed_hosts (host, note, added_by) VALUES (lower(btrim(host)), note, caller)
        ON CONFLICT ON CONSTRAINT http_allowed_hosts_pkey DO UPDATE SET note = excluded.note
        RETURNING * INTO h;
    EXCEPTION WHEN check_violation OR not_null_violation THEN
        RAISE EXCEPTION 'invalid host "%"', host USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A host name (hooks.example.com), or *.example.com for its subdomains; no scheme, port or path.';
    END;
    RETURN to_jsonb(h) - 'added_by' || jsonb_build_object('added_by', h.added_by::regrole);
END;
$$;
SELECT dwc._declare_public('dwc._allow_http_host',
  'Lets the http actions of automations whose owners may not call dwc.http() call this host (or, as *.example.com, '
  'its subdomains), with no redirects. Administrators.',
  access => 'admin', grp => 'automations');

CREATE FUNCTION dwc._disallow_http_host(caller pg_catalog.oid, host pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT dwc._caller_is_admin(caller) THEN
        RAISE EXCEPTION 'only administrators keep the hosts automations may call' USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM dwc.http_allowed_hosts h WHERE h.host = lower(btrim(_disallow_http_host.host));
    RETURN FOUND;
END;
$$;
SELECT dwc._declare_public('dwc._disallow_http_host',
  'Takes a host off dwc.http_allowed_hosts: automations'' http actions to it fail from their next run. Administrators.',
  access => 'admin', grp => 'automations');

-- API: Public

