-- src/notify/action.sql: the notify action of automations and step of AI workflows.

CREATE FUNCTION dwc._notify_check_action(spec pg_catalog.jsonb, what pg_catalog.text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(spec->'channel') IS DISTINCT FROM 'string'
       OR num_nonnulls(spec->'body', spec->'template') <> 1
       OR coalesce(jsonb_typeof(spec->'body'), 'string') <> 'string'
       OR coalesce(jsonb_typeof(spec->'template'), 'string') <> 'string'
       OR coalesce(jsonb_typeof(spec->'to'), 'string') NOT IN ('string', 'array')
       OR coalesce(jsonb_typeof(spec->'vars'), 'object') <> 'object'
       OR coalesce(spec->>'priority', 'normal') NOT IN ('low', 'normal', 'high', 'urgent') THEN
        RAISE EXCEPTION 'a notify % needs "channel", and "body" or "template"', what
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Also: "to" (an address, or an array of them), "user_id", "subject", "vars" (an object), '
                         '"priority" (low, normal, high, urgent), "data".';
    END IF;
END;
$$;
GRANT EXECUTE ON FUNCTION dwc._notify_check_action(pg_catalog.jsonb, pg_catalog.text) TO PUBLIC;

-- sends what spec says, its strings rendered with data ({{path}}), as the current role
CREATE FUNCTION dwc._notify_action(spec pg_catalog.jsonb, data pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recipients jsonb;
BEGIN
    recipients := CASE
        WHEN spec ? 'user_id' THEN jsonb_build_array(jsonb_build_object('user_id', dwc.render_template(spec->>'user_id', data)))
        WHEN jsonb_typeof(spec->'to') = 'array'
            THEN (SELECT jsonb_agg(to_jsonb(dwc.render_template(x, data))) FROM jsonb_array_elements_text(spec->'to') x)
        WHEN spec ? 'to' THEN jsonb_build_array(to_jsonb(dwc.render_template(spec->>'to', data)))
        ELSE '[null]' END;
    RETURN dwc.notify_many(spec->>'channel', recipients, dwc.render_template(spec->>'subject', data),
                           dwc.render_template(spec->>'body', data), spec->>'template',
                           dwc._render_object(spec->'vars', data), coalesce(spec->>'priority', 'normal'), NULL,
                           dwc._render_object(spec->'data', data));
END;
$$;
GRANT EXECUTE ON FUNCTION dwc._notify_action(pg_catalog.jsonb, pg_catalog.jsonb) TO PUBLIC;
