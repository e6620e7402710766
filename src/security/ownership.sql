-- src/security/ownership.sql: who may manage what, stated once. See docs/security.md.
--
-- Every object a user makes (a chain, a model, a schedule, a job, an automation ...) records
-- its owner: the role that made it and, when made through PostgREST or an API key, the dwc
-- user (owner, owner_user). The rule, dwc._may_manage(): administrators (superusers and
-- dwc_admin members) may manage everything; anyone else what a role they are a member of
-- owns, and when the object has a dwc user, only as that user. It has three forms here:
--   the row form   dwc._may_manage(caller, owner, owner_user), and dwc._row_visible() for
--                  row-level security (dwc._enable_owner_rls() enrols a table);
--   the set form   dwc._in_owner_set(), over dwc._caller_is_admin() and dwc._member_roles()
--                  computed once per query, for queries over many rows (analytics);
--   by name        dwc._owned_pick(): what a caller means by a name.

-- API: Private

CREATE FUNCTION dwc._caller_is_admin(who pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT rolsuper OR pg_has_role(who, 'dwc_admin', 'USAGE') FROM pg_roles WHERE oid = who), false);
COMMENT ON FUNCTION dwc._caller_is_admin(pg_catalog.oid) IS
  'Private: is this role (a trampoline''s caller, an object''s owner) an administrator: a superuser or a dwc_admin member? '
  'Administrators may manage everything (dwc._may_manage()).';

-- what dwc makes for itself (security events without a role, audit seals, insights) belongs
-- to the bootstrap superuser: administrators see it
CREATE FUNCTION dwc._system_owner() RETURNS pg_catalog.oid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 10::pg_catalog.oid;
COMMENT ON FUNCTION dwc._system_owner() IS
  'Private: the owner of what dwc makes for itself: the bootstrap superuser (OID 10), so administrators see it.';

CREATE FUNCTION dwc._member_roles(caller pg_catalog.oid) RETURNS pg_catalog.oid[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(array_agg(r.oid), '{}') FROM pg_roles r WHERE pg_has_role(caller, r.oid, 'MEMBER'));
COMMENT ON FUNCTION dwc._member_roles(pg_catalog.oid) IS
  'Private: the roles the caller is a member of; with dwc.current_user_id(), the rows dwc._may_manage() would admit.';

-- dwc._may_manage() over many rows: admin (dwc._caller_is_admin), roles (dwc._member_roles) and
-- me (dwc.current_user_id()) computed once per query, so that each row costs an array lookup.
-- No SET clause, so that the planner inlines it into the query.
CREATE FUNCTION dwc._in_owner_set(owner pg_catalog.oid, owner_user pg_catalog.text, admin pg_catalog.bool,
                                  roles pg_catalog.oid[], me pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN admin OR (owner OPERATOR(pg_catalog.=) ANY (roles)
                 AND (owner_user IS NULL OR owner_user OPERATOR(pg_catalog.=) me));
COMMENT ON FUNCTION dwc._in_owner_set(pg_catalog.oid, pg_catalog.text, pg_catalog.bool, pg_catalog.oid[], pg_catalog.text) IS
  'Private: the set form of dwc._may_manage(): may a caller (admin, a member of roles, dwc user me) manage an '
  'object owned by (owner, owner_user)? For queries over many rows.';

-- ---- row-level security of user-owned tables ---------------------------------------------
--
-- dwc's functions reach its tables as their owner (SECURITY DEFINER) and check ownership
-- themselves. Signed-in users may also read their own rows directly (e.g. for reporting
-- through their own views); RLS keeps them to their rows: the owner role and, for rows made
-- through PostgREST, the same user. Administrators see everything. Each subsystem enrols
-- its tables with dwc._enable_owner_rls() next to their definitions.

-- The one ownership rule, for the functions that act on the caller's behalf (caller: the
-- trampoline's OID) and for row-level security (the querying role).
CREATE FUNCTION dwc._may_manage(caller pg_catalog.oid, owner pg_catalog.oid, owner_user pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc._caller_is_admin(caller)
    OR (pg_has_role(caller, owner, 'MEMBER') AND (owner_user IS NULL OR owner_user = dwc.current_user_id()));
COMMENT ON FUNCTION dwc._may_manage(pg_catalog.oid, pg_catalog.oid, pg_catalog.text) IS
  'Private: may the caller manage an object enqueued or owned by (owner, owner_user)? Superusers '
  'and dwc_admin may; otherwise the caller must be a member of the owning role and, when the object was made '
  'through PostgREST, the same user (dwc.current_user_id(): the one rule for who the caller is).';
-- row-level security calls them as the querying user
GRANT EXECUTE ON FUNCTION dwc._caller_is_admin(pg_catalog.oid) TO dwc_user, dwc_admin;
GRANT EXECUTE ON FUNCTION dwc._may_manage(pg_catalog.oid, pg_catalog.oid, pg_catalog.text) TO dwc_user, dwc_admin;

CREATE FUNCTION dwc._row_visible(owner pg_catalog.oid, owner_user pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc._may_manage((SELECT oid FROM pg_roles WHERE rolname = current_user), owner, owner_user);
COMMENT ON FUNCTION dwc._row_visible(pg_catalog.oid, pg_catalog.text) IS
  'Private: row-level security of user-owned tables: dwc._may_manage() for the querying role.';
-- policies run as the querying user
GRANT EXECUTE ON FUNCTION dwc._row_visible(pg_catalog.oid, pg_catalog.text) TO dwc_user, dwc_admin;

CREATE FUNCTION dwc._enable_owner_rls(tab pg_catalog.regclass, visible pg_catalog.text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tab);
    EXECUTE format('DROP POLICY IF EXISTS dwc_owner ON %s', tab);
    EXECUTE format('CREATE POLICY dwc_owner ON %s FOR SELECT TO dwc_user, dwc_admin USING (%s)', tab, visible);
    EXECUTE format('GRANT SELECT ON %s TO dwc_user, dwc_admin', tab);
END;
$$;
COMMENT ON FUNCTION dwc._enable_owner_rls(pg_catalog.regclass, pg_catalog.text) IS
  'Private: lets signed-in users read the rows of tab for which visible (an SQL condition) holds.';

-- What a caller means by a name: "#<id>" names a row by id; otherwise the caller's own of
-- that name, else the only one of that name among what the caller may manage. None:
-- no_data_found; several (administrators see everyone's): ambiguous_parameter, with a hint to
-- name it by id. The resolver of each owned table passes the candidates (rows of that name, or that
-- id) from a query of its own, so that its plan is prepared once, not made again per call.
CREATE FUNCTION dwc._id_named(name pg_catalog.text) RETURNS pg_catalog.int8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN name OPERATOR(pg_catalog.~) '^#[0-9]{1,18}$' THEN pg_catalog.substr(name, 2)::pg_catalog.int8 END;
COMMENT ON FUNCTION dwc._id_named(pg_catalog.text) IS
  'Private: the id a name of the form "#<id>" stands for; NULL for any other name.';

-- a candidate: one row of that name (or id) of an owned table
CREATE TYPE dwc.owned_row AS (id pg_catalog.int8, owner pg_catalog.oid, owner_user pg_catalog.text);
COMMENT ON TYPE dwc.owned_row IS
  'Private: a candidate of resolve-by-name (dwc._owned_pick): a row''s id and owner (role and dwc user).';

CREATE FUNCTION dwc._owned_pick(caller pg_catalog.oid, name pg_catalog.text, what pg_catalog.text,
                                hint pg_catalog.text, candidates dwc.owned_row[])
RETURNS pg_catalog.int8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    by_id int8 := dwc._id_named(name);
    me text := dwc.current_user_id();
    c dwc.owned_row;
    found int8;
    n int4 := 0;
BEGIN
    FOREACH c IN ARRAY coalesce(candidates, '{}') LOOP
        IF by_id IS NULL AND c.owner = caller AND c.owner_user IS NOT DISTINCT FROM me THEN
            RETURN c.id;                            -- the caller's own comes first
        END IF;
        CONTINUE WHEN (by_id IS NOT NULL AND c.id IS DISTINCT FROM by_id)
                   OR NOT dwc._may_manage(caller, c.owner, c.owner_user);
        IF by_id IS NOT NULL THEN
            RETURN c.id;
        END IF;
        n := n + 1;
        found := coalesce(found, c.id);
    END LOOP;
    IF n > 1 THEN
        RAISE EXCEPTION 'several users have % named "%"', what, name
            USING ERRCODE = 'ambiguous_parameter', HINT = 'Name it by id: ''#<id>''.';
    ELSIF found IS NULL AND dwc._citus_worker() THEN
        -- a call over a distributed table's rows that Citus ran on the worker holding them
        RAISE EXCEPTION '% "%" is not on this Citus worker node', regexp_replace(what, '^an? ', ''), name
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'What dwc keeps lives on the coordinator; Citus ran this call on a worker node.',
                  HINT = 'Read the rows on the coordinator first: WITH r AS MATERIALIZED (SELECT ...) '
                         'SELECT ... FROM r (docs/scaling.md).';
    ELSIF found IS NULL AND hint IS NULL THEN
        RAISE EXCEPTION '% "%" does not exist', regexp_replace(what, '^an? ', ''), name USING ERRCODE = 'no_data_found';
    ELSIF found IS NULL THEN
        RAISE EXCEPTION '% "%" does not exist', regexp_replace(what, '^an? ', ''), name
            USING ERRCODE = 'no_data_found', HINT = hint;
    END IF;
    RETURN found;
END;
$$;
COMMENT ON FUNCTION dwc._owned_pick(pg_catalog.oid, pg_catalog.text, pg_catalog.text, pg_catalog.text, dwc.owned_row[]) IS
  'Private: resolve-by-name among candidates (the rows of that name or id, by id): "#<id>", or the caller''s own, '
  'else the only one the caller may manage; none: no_data_found (with hint); several: ambiguous_parameter '
  '(what names the kind of object, with its article: "an automation").';

-- Most owned tables resolve a name the same way, so their resolvers are made, not written: one
-- PL/pgSQL function per table (its plan kept for the session, where a SQL function with a SET
-- clause is planned at every call: 20 us a resolve against 90), the candidates read by name, by
-- its slug or by "#<id>", the pick made once in FROM whatever plan reads the table.
CREATE FUNCTION dwc._declare_resolver(resolver pg_catalog.text, tbl pg_catalog.regclass,
                                      what pg_catalog.text, hint pg_catalog.text)
RETURNS pg_catalog.regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format($f$
CREATE FUNCTION %s(name pg_catalog.text, caller pg_catalog.oid) RETURNS %s
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $b$
BEGIN
    RETURN (SELECT (SELECT r FROM %s r WHERE r.id = p.id)
              FROM dwc._owned_pick(caller, $1, %L, %L,
                   ARRAY(SELECT (t.id, t.owner, t.owner_user)::dwc.owned_row FROM %s t
                          WHERE t.name = $1 OR dwc.name_slug(t.name) = dwc.name_slug($1)
                             OR t.id = dwc._id_named($1) ORDER BY t.id)) AS p (id));
END;
$b$
$f$, resolver, tbl, tbl, what, hint, tbl);
    EXECUTE format('COMMENT ON FUNCTION %s(pg_catalog.text, pg_catalog.oid) IS %L', resolver,
                   format('Private: the %s a caller means by a name (its slug, or "#<id>"): dwc._owned_pick.',
                          regexp_replace(what, '^an? ', '')));
    RETURN format('%s(pg_catalog.text, pg_catalog.oid)', resolver)::regprocedure;
END;
$$;
COMMENT ON FUNCTION dwc._declare_resolver(pg_catalog.text, pg_catalog.regclass, pg_catalog.text, pg_catalog.text) IS
  'Private: makes resolver(name text, caller oid) returning the row of tbl (columns id, name, owner, '
  'owner_user) that the caller means, by dwc._owned_pick (what: the kind of object with its article; '
  'hint: for no_data_found).';
