-- src/core/core_end.sql: last part of the install script.

-- Warn when the library was not preloaded; otherwise wake this database's workers at commit.
SELECT dwc._startup_check();
