/*-------------------------------------------------------------------------
 *
 * events.c
 *		Security events: a ring in shared memory, written into
 *		dwc.security_events by the maintenance worker.
 *
 * The events that matter most are raised by requests that then fail: a
 * rate-limited request ends in an error (PostgREST's 429), a permission
 * denied is an error.  An INSERT in the failing transaction would be rolled
 * back with it, so events go into a ring in shared memory (core/ring.c),
 * and the maintenance worker of the database moves them into the table in
 * its own transactions, within a second, at once when the ring fills, and
 * when it stops.  Without the library preloaded there is no ring and events
 * are inserted directly (and share their transaction's fate).  Events the
 * ring loses all the same (core/ring.c says when) are counted and reported
 * by dwc.security_summary().
 *
 * The client address and the request path come from PostgREST's request
 * settings: the first address of X-Forwarded-For (PostgREST sees only its
 * proxy), else X-Real-IP.
 *
 * src/security/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "core/arrays.h"
#include "core/errors.h"
#include "core/jsonc.h"
#include "core/registry.h"
#include "core/ring.h"
#include "security/events.h"

#define EVENT_RING 2048

typedef struct SecurityEvent
{
	TimestampTz at;
	Oid			role;
	char		event[32];
	char		severity[12];
	char		user_id[64];
	char		address[64];
	char		path[128];
	char		detail[512];
} SecurityEvent;

static DwcRing *event_ring = NULL;
static int	flush_task;

static Size
events_shmem_size(void)
{
	return DwcRingShmemSize(EVENT_RING, sizeof(SecurityEvent));
}

static void
events_shmem_init(void)
{
	event_ring = DwcRingShmemInit("dwc security events", EVENT_RING, sizeof(SecurityEvent),
								  &(GetNamedLWLockTranche("dwc security events"))->lock, flush_task);
}

static bool flush_events(void);

void
DwcSecurityEventsRegister(void)
{
	DwcRegisterShmem(events_shmem_size, events_shmem_init, "dwc security events");
	flush_task = DwcRegisterMaintenanceAtExit("security event flush", 1000, flush_events);
}

/* A header of the current PostgREST request (lower-case name), or NULL. */
char *
DwcRequestHeader(const char *name)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	Jsonb	   *j;
	JsonbValue	k;
	JsonbValue *v;

	if (headers == NULL || headers[0] == '\0' || !DwcJsonIsValid(headers, strlen(headers)))
		return NULL;
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(headers)));
	if (!JB_ROOT_IS_OBJECT(j))
		return NULL;
	k.type = jbvString;
	k.val.string.val = unconstify(char *, name);
	k.val.string.len = strlen(name);
	v = findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The client's address as PostgREST's proxy reports it, or NULL. */
char *
DwcClientAddress(void)
{
	char	   *xff = DwcRequestHeader("x-forwarded-for");

	if (xff != NULL)
	{
		char	   *comma = strchr(xff, ',');

		if (comma)
			*comma = '\0';
		while (*xff == ' ')
			xff++;
		if (*xff)
			return xff;
	}
	return DwcRequestHeader("x-real-ip");
}

/* n events into dwc.security_events, in one statement (SPI connected) */
static void
insert_events(const void *records, int n)
{
	const SecurityEvent *evs = records;
	Oid			elemtypes[8] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID, TEXTOID};
	Oid			types[8] = {TIMESTAMPTZARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, OIDARRAYOID, TEXTARRAYOID};
	Datum	   *cols[8];
	bool	   *nulls[8] = {NULL};
	Datum		args[8];
	int			c;
	int			i;

	for (c = 0; c < 8; c++)
		cols[c] = palloc(sizeof(Datum) * n);
	for (c = 3; c < 6; c++)
		nulls[c] = palloc(sizeof(bool) * n);
	nulls[7] = palloc(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		const SecurityEvent *e = &evs[i];

		cols[0][i] = TimestampTzGetDatum(e->at);
		cols[1][i] = CStringGetTextDatum(e->event);
		cols[2][i] = CStringGetTextDatum(e->severity);
		cols[3][i] = CStringGetTextDatum(e->user_id);
		cols[4][i] = CStringGetTextDatum(e->address);
		cols[5][i] = CStringGetTextDatum(e->path);
		cols[6][i] = ObjectIdGetDatum(e->role);
		cols[7][i] = CStringGetTextDatum(e->detail);
		/* an empty text is what the event did not say */
		nulls[3][i] = e->user_id[0] == '\0';
		nulls[4][i] = e->address[0] == '\0';
		nulls[5][i] = e->path[0] == '\0';
		nulls[7][i] = e->detail[0] == '\0';
	}
	for (c = 0; c < 8; c++)
		args[c] = DwcArrayDatum(cols[c], nulls[c], n, elemtypes[c]);
	if (SPI_execute_with_args("INSERT INTO dwc.security_events (at, event, severity, user_id, address, request_path,"
							  " role, detail)"
							  " SELECT u.at, u.event, u.severity, u.user_id, u.address, u.path, u.role,"
							  "        coalesce(u.detail::jsonb, '{}')"
							  "   FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)"
							  "        AS u (at, event, severity, user_id, address, path, role, detail)",
							  8, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the security events");
}

/*
 * Record a security event.  detail_json: a JSON object (text), or NULL;
 * one that does not fit the ring entry is replaced by a note saying so.
 */
void
DwcSecurityEvent(const char *event, const char *severity, const char *user_id, const char *detail_json)
{
	SecurityEvent e;
	char	   *addr = DwcClientAddress();
	const char *path = GetConfigOption("request.path", true, false);

	memset(&e, 0, sizeof(e));
	e.at = GetCurrentTimestamp();
	e.role = GetUserId();
	strlcpy(e.event, event, sizeof(e.event));
	strlcpy(e.severity, severity, sizeof(e.severity));
	if (user_id)
		strlcpy(e.user_id, user_id, sizeof(e.user_id));
	if (addr)
		strlcpy(e.address, addr, sizeof(e.address));
	if (path)
		strlcpy(e.path, path, sizeof(e.path));
	if (detail_json)
	{
		if (strlen(detail_json) < sizeof(e.detail) && DwcJsonIsValid(detail_json, strlen(detail_json)))
			strlcpy(e.detail, detail_json, sizeof(e.detail));
		else
			strlcpy(e.detail, "{\"note\": \"detail too long or not JSON\"}", sizeof(e.detail));
	}

	if (event_ring == NULL)
	{
		SPI_connect();
		insert_events(&e, 1);
		SPI_finish();
		return;
	}
	DwcRingPut(event_ring, &e);
}

/*
 * The maintenance task: move this database's events into
 * dwc.security_events, in the task's transaction; they leave the ring when
 * it commits.
 */
static bool
flush_events(void)
{
	if (event_ring != NULL)
		(void) DwcRingFlush(event_ring, insert_events);
	return false;
}

PG_FUNCTION_INFO_V1(dwc__security_event);
PG_FUNCTION_INFO_V1(dwc__security_events_dropped);
PG_FUNCTION_INFO_V1(dwc_client_address);

/* dwc._security_event(event text, severity text, user_id text, detail jsonb) */
Datum
dwc__security_event(PG_FUNCTION_ARGS)
{
	char	   *detail = NULL;

	DWC_REQUIRE_ARG(0, "event");
	DWC_REQUIRE_ARG(1, "severity");
	if (!PG_ARGISNULL(3))
	{
		Jsonb	   *j = PG_GETARG_JSONB_P(3);

		detail = JsonbToCString(NULL, &j->root, VARSIZE(j));
	}
	DwcSecurityEvent(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)),
					 DWC_TEXT_ARG_OR_NULL(2), detail);
	PG_RETURN_VOID();
}

Datum
dwc__security_events_dropped(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(event_ring ? (int64) DwcRingDropped(event_ring) : 0);
}

/* dwc.client_address() returns text: the caller's address per PostgREST's proxy headers */
Datum
dwc_client_address(PG_FUNCTION_ARGS)
{
	char	   *a = DwcClientAddress();

	if (a == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(a));
}
