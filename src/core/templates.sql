-- src/core/templates.sql: the {{path}} template engine that automations' actions, AI workflows'
-- steps and notification templates render with.

-- API: Public

-- {{path}} in text replaced by the value at that path of data (dots; "" for missing values)
CREATE FUNCTION dwc.render_template(template pg_catalog.text, data pg_catalog.jsonb)
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    out text := '';
    rest text := template;
    m text[];
    pos int;
    v jsonb;
BEGIN
    IF template IS NULL THEN
        RETURN NULL;
    END IF;
    LOOP
        m := regexp_match(rest, '\{\{\s*([A-Za-z0-9_.-]*)\s*\}\}');
        EXIT WHEN m IS NULL;
        pos := strpos(rest, substring(rest FROM '\{\{\s*[A-Za-z0-9_.-]*\s*\}\}'));
        v := CASE WHEN m[1] = '' THEN data ELSE data #> string_to_array(m[1], '.') END;
        out := out || substr(rest, 1, pos - 1)
               || coalesce(CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' ELSE v::text END, '');
        rest := substr(rest, pos + length(substring(rest FROM '\{\{\s*[A-Za-z0-9_.-]*\s*\}\}')));
    END LOOP;
    RETURN out || rest;
END;
$$;
COMMENT ON FUNCTION dwc.render_template(pg_catalog.text, pg_catalog.jsonb) IS
  'Replaces each {{path}} in a template by the value at that dotted path of data (text as it is, other '
  'JSON as JSON, missing as nothing); automations render their actions'' strings with it.';

-- a JSON object's top-level strings rendered; a string that is one placeholder and nothing else
-- takes the value itself ("{{input.x}}" a number stays a number)
CREATE FUNCTION dwc._render_object(obj pg_catalog.jsonb, data pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_object_agg(k, CASE
            WHEN jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^\{\{\s*[A-Za-z0-9_.-]+\s*\}\}$'
                THEN coalesce(data #> string_to_array(substring(v #>> '{}' FROM '^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$'), '.'),
                              'null')
            WHEN jsonb_typeof(v) = 'string' THEN to_jsonb(dwc.render_template(v #>> '{}', data))
            ELSE v END), '{}')
          FROM jsonb_each(coalesce(obj, '{}')) e(k, v));
