/*-------------------------------------------------------------------------
 *
 * stats.c
 *		dwc.realtime_stats(): the WebSocket gateway's figures, from shared
 *		memory, where the gateway publishes them five times a second.
 *
 * src/realtime/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "realtime/realtime.h"

static void
append_time(StringInfo out, const char *key, TimestampTz t)
{
	appendStringInfo(out, ", \"%s\": ", key);
	if (t == 0)
		appendStringInfoString(out, "null");
	else
		escape_json(out, timestamptz_to_str(t));
}

PG_FUNCTION_INFO_V1(dwc_realtime_stats);

Datum
dwc_realtime_stats(PG_FUNCTION_ARGS)
{
	RtStats    *st = DwcRealtimeStats();
	RtStats    *copy = palloc0(sizeof(RtStats));
	StringInfoData out;
	bool		first = true;

	if (st != NULL)
	{
		DwcRealtimeLockStats(false);
		memcpy(copy, st, sizeof(RtStats));
		DwcRealtimeUnlockStats();
	}
	initStringInfo(&out);
	appendStringInfo(&out, "{\"listening\": %s, \"address\": ", copy->listening ? "true" : "false");
	escape_json(&out, copy->address);
	appendStringInfo(&out, ", \"port\": %d", copy->port);
	append_time(&out, "started_at", copy->started_at);
	appendStringInfo(&out, ", \"open\": %d, \"connections_total\": " INT64_FORMAT
					 ", \"connections_rejected\": " INT64_FORMAT ", \"auth_failures\": " INT64_FORMAT
					 ", \"messages_in\": " INT64_FORMAT ", \"messages_out\": " INT64_FORMAT
					 ", \"bytes_out\": " INT64_FORMAT ", \"events_seen\": " INT64_FORMAT
					 ", \"events_sent\": " INT64_FORMAT ", \"progress_sent\": " INT64_FORMAT
					 ", \"slow_closed\": " INT64_FORMAT
					 ", \"ring_overflows\": " INT64_FORMAT ", \"connections\": [",
					 copy->open, copy->connections_total, copy->connections_rejected, copy->auth_failures,
					 copy->messages_in, copy->messages_out, copy->bytes_out, copy->events_seen,
					 copy->events_sent, copy->progress_sent, copy->slow_closed, copy->ring_overflows);
	for (int i = 0; i < RT_MAX_CONNECTIONS && copy->conns[i].id != 0; i++)
	{
		RtConnStat *c = &copy->conns[i];

		appendStringInfo(&out, "%s{\"id\": " INT64_FORMAT ", \"user_id\": ", first ? "" : ", ", c->id);
		if (c->user_id[0])
			escape_json(&out, c->user_id);
		else
			appendStringInfoString(&out, "null");
		appendStringInfo(&out, ", \"rooms\": %d", c->rooms);
		append_time(&out, "connected_at", c->connected_at);
		appendStringInfo(&out, ", \"messages_in\": " INT64_FORMAT ", \"messages_out\": " INT64_FORMAT
						 ", \"bytes_out\": " INT64_FORMAT ", \"queued\": %d}",
						 c->messages_in, c->messages_out, c->bytes_out, c->queued);
		first = false;
	}
	appendStringInfoString(&out, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
