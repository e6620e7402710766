/*-------------------------------------------------------------------------
 *
 * runs.c
 *		Enqueueing an automation's run as the automation's owner.
 *
 * A run is fired wherever its trigger is noticed (an event's statement, a
 * row trigger on a user's table, a poll, a webhook), by whatever session
 * that is; the job must run as the automation's owner and dwc user all the
 * same, with the owner's privileges.  Only dwc's own SECURITY DEFINER
 * functions call this (it is not executable by PUBLIC).
 *
 * src/automation/runs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/errors.h"
#include "queue/queue.h"

PG_FUNCTION_INFO_V1(dwc__automation_enqueue);

/* dwc._automation_enqueue(run_id, role, user_id, max_attempts) returns bigint: the job */
Datum
dwc__automation_enqueue(PG_FUNCTION_ARGS)
{
	DwcJobSpec	spec;
	char	   *json;

	DWC_REQUIRE_ARG(0, "run_id");
	DWC_REQUIRE_ARG(1, "role");
	memset(&spec, 0, sizeof(spec));
	json = psprintf("{\"run_id\": " INT64_FORMAT "}", PG_GETARG_INT64(0));
	spec.kind = "automation.run";
	spec.payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	spec.queue = "default";
	spec.max_attempts = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	PG_RETURN_INT64(DwcEnqueue(&spec, PG_GETARG_OID(1), PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2))));
}
