/*-------------------------------------------------------------------------
 *
 * nodes.c
 *		What part this server plays in a Citus cluster (the SQL side is
 *		nodes.sql).
 *
 * src/core/nodes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "core/nodes.h"

/*
 * Is Citus loaded in this server?  It is preloaded wherever it is used, so
 * its settings exist in every process; without it, the maintenance tasks
 * that serve a Citus coordinator cost no query at all.
 */
bool
DwcCitusLoaded(void)
{
	return GetConfigOption("citus.enable_unsafe_triggers", true, false) != NULL;
}
