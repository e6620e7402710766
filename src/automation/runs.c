/*-------------------------------------------------------------------------
 *
 * runs.c
 *		Enqueueing a job as another role and dwc user: an automation's run
 *		as the automation's owner, an AI workflow's step as the workflow's.
 *
 * A run is fired wherever its trigger is noticed (an event's statement, a
 * row trigger on a user's table, a poll, a webhook), by whatever session
 * that is, and a workflow's next steps by whichever step finished last; the
 * job must run as the owner and dwc user all the same, with the owner's
 * privileges.  Only dwc's own SECURITY DEFINER functions call this (it is
 * not executable by PUBLIC).
 *
 * src/automation/runs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "core/errors.h"
#include "queue/queue.h"

PG_FUNCTION_INFO_V1(dwc__enqueue_for);

/*
 * dwc._enqueue_for(kind, payload, role, user_id, scopes, max_attempts,
 * priority, run_at) returns bigint: the job.  scopes are the API-key
 * scopes the job keeps (those of the automation, or the workflow run, made
 * through a key; NULL: none), given explicitly because the session that
 * fires a run is not the one that made the automation.
 */
Datum
dwc__enqueue_for(PG_FUNCTION_ARGS)
{
	DwcJobSpec	spec;

	DWC_REQUIRE_ARG(0, "kind");
	DWC_REQUIRE_ARG(2, "role");
	memset(&spec, 0, sizeof(spec));
	spec.kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	spec.payload = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	spec.queue = "default";
	spec.scopes_given = true;
	spec.scopes = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	spec.max_attempts = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);
	spec.priority = PG_NARGS() > 6 && !PG_ARGISNULL(6)
		? DwcParsePriority(text_to_cstring(PG_GETARG_TEXT_PP(6))) : DwcParsePriority("normal");
	spec.run_at = PG_NARGS() > 7 && !PG_ARGISNULL(7) ? PG_GETARG_TIMESTAMPTZ(7) : 0;
	PG_RETURN_INT64(DwcEnqueue(&spec, PG_GETARG_OID(2), PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3))));
}
