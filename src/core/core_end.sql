-- src/core/core_end.sql: last part of the install script.

-- Private functions (name starting with "_") are not for callers: PostgreSQL grants
-- EXECUTE on every new function to PUBLIC, so each one left with the default privileges
-- is revoked here, and a private function that invoker-rights code needs (a policy, a job
-- handler) says so with an explicit GRANT next to its definition. A new private function
-- is therefore closed unless its author opens it.
SELECT dwc._close_private_functions();

-- Warn when the library was not preloaded; otherwise wake this database's workers at commit.
SELECT dwc._startup_check();
