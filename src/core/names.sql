-- src/core/names.sql: the one rule for the names users give what they own (automations, AI
-- workflows, ML and recommender models): a display name of free text, and a slug derived from
-- it that is unique per owner, so "Customer Churn" and "customer_churn" are one object. A name
-- finds its object as written, by its slug, or as "#<id>" (src/security/ownership.sql).

-- API: Public

CREATE FUNCTION dwc.name_slug(name pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.btrim(pg_catalog.regexp_replace(
           pg_catalog.translate(pg_catalog.lower(name), 'áàâäãåāéèêëēíìîïīóòôöõøōúùûüūñçýÿ',
                                'aaaaaaaeeeeeiiiiiooooooouuuuuncyy'),
           '[^a-z0-9]+', '_', 'g'), '_');
COMMENT ON FUNCTION dwc.name_slug(pg_catalog.text) IS
  'The slug of a name: lower case, accents dropped, every run of other characters one "_" (Customer Churn '
  'Prediction: customer_churn_prediction). Names are unique per owner by their slug.';

-- API: Private

CREATE FUNCTION dwc._valid_name(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.length(name) OPERATOR(pg_catalog.<=) 200 AND name OPERATOR(pg_catalog.!~) '^#'
       AND name OPERATOR(pg_catalog.!~) '[[:cntrl:]]' AND dwc.name_slug(name) OPERATOR(pg_catalog.<>) '';
COMMENT ON FUNCTION dwc._valid_name(pg_catalog.text) IS
  'Private: the rule of user-given names: up to 200 characters, no control characters, not starting with "#", '
  'at least one letter or digit.';
-- a pure rule: the api functions that run as their caller (record_metric) apply it too
GRANT EXECUTE ON FUNCTION dwc._valid_name(pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc._check_name(name pg_catalog.text, what pg_catalog.text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR NOT dwc._valid_name(name) THEN
        RAISE EXCEPTION 'invalid % name "%"', what, name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A name is up to 200 characters with a letter or digit, no control characters, and does not '
                   'start with "#" (which names an object by its id).';
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc._check_name(pg_catalog.text, pg_catalog.text) IS
  'Private: raises invalid_parameter_value, with the rule, for a name that dwc._valid_name() refuses.';
