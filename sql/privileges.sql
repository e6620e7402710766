-- privileges: what callers can execute. Private functions (name starting with "_") are
-- closed to PUBLIC unless one says why it is open; invoker-rights code never calls a
-- private function its callers cannot execute; the trampoline's private halves (a leading
-- "caller oid") are closed to every web role, and every public stub finds its private half.

-- the private functions open to PUBLIC, each with a GRANT and a reason next to it
SELECT p.oid::regprocedure AS open_private_function
  FROM pg_proc p
 WHERE p.pronamespace = 'dwc'::regnamespace AND p.proname LIKE '\_%'
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;

-- invoker-rights functions callable by web roles, and row-level security policies, that
-- call a private function the caller cannot execute: none
WITH private AS (
    SELECT p.oid, p.proname FROM pg_proc p
     WHERE p.pronamespace = 'dwc'::regnamespace AND p.proname LIKE '\_%'
       AND NOT has_function_privilege('dwc_user', p.oid, 'EXECUTE')),
invoker AS (
    SELECT p.oid::regprocedure::text AS what, pg_get_functiondef(p.oid) AS body
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.pronamespace IN ('dwc'::regnamespace, 'api_impl'::regnamespace) AND p.prokind = 'f'
       AND NOT p.prosecdef AND l.lanname <> 'c'
       AND (has_function_privilege('dwc_user', p.oid, 'EXECUTE') OR p.pronamespace = 'api_impl'::regnamespace)
    UNION ALL
    SELECT 'policy ' || polname || ' on ' || polrelid::regclass, pg_get_expr(polqual, polrelid) FROM pg_policy
     WHERE polrelid::regclass::text LIKE 'dwc.%')
SELECT i.what, pr.proname AS calls
  FROM invoker i JOIN private pr ON i.body ~ ('dwc\.' || pr.proname || '\(')
 ORDER BY 1, 2;

-- the trampoline's private halves (the caller first), and private functions that act for a
-- caller given last: no web role, nor PUBLIC, may execute one
SELECT p.oid::regprocedure AS open_private_half
  FROM pg_proc p
 WHERE p.pronamespace = 'dwc'::regnamespace AND p.pronargs > 0
   AND ((p.proargtypes[p.pronargs - 1] = 'oid'::regtype
         AND (p.proargnames IS NULL OR p.proargnames[p.pronargs] = 'caller'))
        OR EXISTS (SELECT 1 FROM pg_proc s WHERE s.prosrc = 'dwc_trampoline' AND s.pronamespace = p.pronamespace
                                             AND '_' || s.proname = p.proname))
   AND (has_function_privilege('public', p.oid, 'EXECUTE')
        OR has_function_privilege('dwc_anon', p.oid, 'EXECUTE')
        OR has_function_privilege('dwc_user', p.oid, 'EXECUTE')
        OR has_function_privilege('dwc_admin', p.oid, 'EXECUTE'));

-- every public stub resolves to its private half: "_" || name in dwc (or
-- "_<schema>_<name>"), with the caller's oid and then the same arguments
WITH stubs AS (
    SELECT p.oid, n.nspname, p.proname,
           CASE WHEN n.nspname = 'dwc' THEN '_' || p.proname ELSE '_' || n.nspname || '_' || p.proname END AS target,
           array_to_string('oid'::text || array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t), ', ') AS args
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosrc = 'dwc_trampoline')
SELECT count(*) > 20 AS many_stubs,
       count(*) FILTER (WHERE to_regprocedure(format('dwc.%I(%s)', target, args)) IS NULL) AS unresolved,
       string_agg(CASE WHEN to_regprocedure(format('dwc.%I(%s)', target, args)) IS NULL
                       THEN nspname || '.' || proname END, ', ') AS which
  FROM stubs;

-- and a stub is callable only where its half checks the caller: stubs are open to web
-- roles, halves are SECURITY DEFINER
SELECT s.oid::regprocedure AS stub_whose_half_is_not_security_definer
  FROM pg_proc s JOIN pg_namespace n ON n.oid = s.pronamespace
  JOIN pg_proc h ON h.oid = to_regprocedure(format('dwc.%I(%s)',
           CASE WHEN n.nspname = 'dwc' THEN '_' || s.proname ELSE '_' || n.nspname || '_' || s.proname END,
           array_to_string('oid'::text || array(SELECT format_type(t, NULL) FROM unnest(s.proargtypes) t), ', ')))
 WHERE s.prosrc = 'dwc_trampoline' AND NOT h.prosecdef;

-- every public function is documented (its comment given where it is declared), and an
-- HTTP rule given to dwc._declare_public needs its access and scope group both
SELECT p.oid::regprocedure AS public_function_without_comment
  FROM pg_proc p
 WHERE p.pronamespace IN ('dwc'::regnamespace, 'api_impl'::regnamespace) AND p.proname !~ '^_'
   AND obj_description(p.oid, 'pg_proc') IS NULL;
-- a rule of the HTTP face is for a body in api_impl or a public dwc function, nothing else
SELECT dwc._declare_http('dwc._no_such_job', 'a comment', 'user', 'tasks');
SELECT dwc._declare_http('pg_catalog.now', 'a comment', 'user', 'tasks');
SELECT dwc._declare_public('dwc._cancel_job', 'a comment', access => 'user');
SELECT dwc._declare_public('dwc._cancel_job', 'a comment', route => 'GET /x');
