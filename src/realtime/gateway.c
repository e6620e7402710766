/*-------------------------------------------------------------------------
 *
 * gateway.c
 *		The real-time gateway: a WebSocket server (libwebsockets) in a dwc
 *		background worker, pushing to each client the events it may see.
 *
 * Protocol (JSON text messages; docs/realtime.md):
 *   client: {"type": "auth", "token" | "api_key"}, {"type": "join", "room"},
 *           {"type": "leave", "room"}, {"type": "resume", "last_event_id"},
 *           {"type": "ping"}
 *   server: {"type": "welcome" | "joined" | "left" | "resumed" | "pong" |
 *            "error", ...}, and {"type": "event", "id", "at", "kind",
 *            "subject", "payload"} for each event.
 *
 * libwebsockets' callbacks never touch the database nor raise errors: they
 * parse with json-c and queue work on the connection, in malloc'd memory
 * bounded per connection.  The worker's loop, between two passes of
 * lws_service(), does what needs the database (requests, through
 * dwc._rt_request(), and the events committed since, from ring.c) in
 * transactions of its own, with errors caught and turned into replies.
 * Committing backends wake it through a datagram socket that libwebsockets
 * polls beside the clients; a timer makes lws_service() return every TICK_MS
 * at the latest, for a lost wake-up and for SIGTERM.
 *
 * src/realtime/gateway.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <libwebsockets.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/dbworker.h"
#include "core/shmem.h"
#include "realtime/realtime.h"
#include "realtime/session.h"

#include "core/jsonc_prelude.h"

#define TICK_MS 50
#define PROGRESS_MS 250			/* how often running jobs' progress is pushed */
#define AUTH_TIMEOUT_S 10
#define TAKE 1024

static struct lws_context *context = NULL;
static lws_sorted_usec_list_t tick_sul;
static Session *sessions = NULL;
static int	nsessions = 0;
static int64 next_session_id = 1;
int			RtPendingRequests = 0;	/* requests waiting for the database (session.c too) */
static int64 last_event_id = 0;
RtStats		RtLocal;		/* counters, published to shared memory (session.c too) */

/* ---- what clients send ----------------------------------------------------- */

static void
handle_message(Session *s, const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, text, (int) len) : NULL;
	struct json_object *t;
	const char *type;

	s->messages_in++;
	RtLocal.messages_in++;
	if (tok)
		json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)
		|| !json_object_object_get_ex(o, "type", &t) || !json_object_is_type(t, json_type_string))
	{
		rt_queue_error(s, "bad_request", "a message is a JSON object with a \"type\"");
		if (o)
			json_object_put(o);
		return;
	}
	type = json_object_get_string(t);
	if (strcmp(type, "ping") == 0)
	{
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "type", json_object_new_string("pong"));
		rt_queue_json(s, r);
		json_object_put(r);
	}
	else if (strcmp(type, "leave") == 0)
	{
		struct json_object *room;
		const char *name = json_object_object_get_ex(o, "room", &room) ? json_object_get_string(room) : NULL;
		struct json_object *r = json_object_new_object();

		/* the state sent to dwc._rt_request() is rebuilt from rooms, so this is enough */
		for (int i = 0; name && i < s->nrooms; i++)
			if (strcmp(s->rooms[i], name) == 0)
			{
				free(s->rooms[i]);
				s->rooms[i] = s->rooms[--s->nrooms];
				break;
			}
		json_object_object_add(r, "type", json_object_new_string("left"));
		json_object_object_add(r, "room", json_object_new_string(name ? name : ""));
		rt_queue_json(s, r);
		json_object_put(r);
	}
	else if (strcmp(type, "auth") == 0 || strcmp(type, "join") == 0 || strcmp(type, "resume") == 0)
	{
		if (s->request != NULL)
			rt_queue_error(s, "busy", "wait for the answer to the previous request");
		else if (strcmp(type, "auth") == 0 && s->authed)
			rt_queue_error(s, "bad_request", "already authenticated");
		else if ((s->request = strndup(text, len)) != NULL)
			RtPendingRequests++;
	}
	else
		rt_queue_error(s, "bad_request", "types: auth, join, leave, resume, ping");
	json_object_put(o);
}

static int
callback_dwc(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	Session    *s = (Session *) user;

	switch (reason)
	{
		case LWS_CALLBACK_ESTABLISHED:
			memset(s, 0, sizeof(*s));
			if (nsessions >= dwc_websocket_max_connections)
			{
				RtLocal.connections_rejected++;
				lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *) "too many connections", 20);
				return -1;
			}
			s->wsi = wsi;
			s->id = next_session_id++;
			s->connected_at = GetCurrentTimestamp();
			s->next = sessions;
			if (sessions)
				sessions->prev = s;
			sessions = s;
			nsessions++;
			RtLocal.connections_total++;
			break;

		case LWS_CALLBACK_RECEIVE:
			if (lws_frame_is_binary(wsi))
			{
				lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *) "text only", 9);
				return -1;
			}
			if (s->rx_len + len > (size_t) dwc_websocket_max_message)
			{
				lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *) "message too large", 17);
				return -1;
			}
			{
				char	   *nb = realloc(s->rx, s->rx_len + len + 1);

				if (nb == NULL)
					return -1;
				s->rx = nb;
				memcpy(s->rx + s->rx_len, in, len);
				s->rx_len += len;
				s->rx[s->rx_len] = '\0';
			}
			if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
			{
				handle_message(s, s->rx, s->rx_len);
				free(s->rx);
				s->rx = NULL;
				s->rx_len = 0;
			}
			break;

		case LWS_CALLBACK_SERVER_WRITEABLE:
			if (s->drop || (s->closing && s->head == NULL))
			{
				lws_close_reason(wsi, s->close_code, (unsigned char *) s->close_reason, strlen(s->close_reason));
				return -1;
			}
			if (s->head)
			{
				OutMsg	   *m = s->head;

				if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int) m->len)
					return -1;
				s->messages_out++;
				s->bytes_out += m->len;
				RtLocal.messages_out++;
				RtLocal.bytes_out += m->len;
				s->head = m->next;
				if (s->head == NULL)
					s->tail = NULL;
				s->queued--;
				free(m);
				if (s->head || s->closing)
					lws_callback_on_writable(wsi);
			}
			break;

		case LWS_CALLBACK_CLOSED:
			if (s->wsi == NULL)
				break;			/* refused at ESTABLISHED: never counted */
			if (s->prev)
				s->prev->next = s->next;
			else if (sessions == s)
				sessions = s->next;
			if (s->next)
				s->next->prev = s->prev;
			nsessions--;
			rt_free_session(s);
			break;

		default:
			break;
	}
	return 0;
}

static int	wake_fd = -1;

/* the wake-up socket is readable: drain it; lws_service() then returns to the loop */
static int
callback_wake(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_RAW_RX_FILE)
	{
		char		buf[256];

		while (recv(wake_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{"dwc", callback_dwc, sizeof(Session), 4096, 0, NULL, 0},
	{"dwc-wake", callback_wake, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

static void
tick(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(context, 0, &tick_sul, tick, TICK_MS * LWS_US_PER_MS);
}

/* ---- the database's side ----------------------------------------------------- */

/* the state dwc._rt_request() keeps, with the rooms as the connection has them now */
static char *
state_json(Session *s)
{
	struct json_object *st = s->state ? json_tokener_parse(s->state) : NULL;
	struct json_object *rooms = json_object_new_array();
	char	   *out;

	if (st == NULL)
		st = json_object_new_object();
	for (int i = 0; i < s->nrooms; i++)
		json_object_array_add(rooms, json_object_new_string(s->rooms[i]));
	json_object_object_add(st, "rooms", rooms);
	out = pstrdup(json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
	json_object_put(st);
	return out;
}

static void
apply_answer(Session *s, const char *answer)
{
	struct json_object *o = json_tokener_parse(answer);
	struct json_object *v;

	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "state", &v))
	{
		struct json_object *x;

		free(s->state);
		s->state = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		if (json_object_object_get_ex(v, "user_id", &x) && json_object_is_type(x, json_type_string))
		{
			if (!s->authed)
			{
				s->authed = true;
				strlcpy(s->user_id, json_object_get_string(x), sizeof(s->user_id));
			}
		}
		s->admin = json_object_object_get_ex(v, "admin", &x) && json_object_get_boolean(x);
		if (json_object_object_get_ex(v, "rooms", &x) && json_object_is_type(x, json_type_array))
		{
			rt_free_rooms(s);
			for (size_t i = 0; i < json_object_array_length(x) && s->nrooms < MAX_ROOMS; i++)
			{
				char	   *r = strdup(json_object_get_string(json_object_array_get_idx(x, i)));

				if (r)
					s->rooms[s->nrooms++] = r;
			}
		}
	}
	if (json_object_object_get_ex(o, "reply", &v))
		rt_queue_json(s, v);
	if (json_object_object_get_ex(o, "events", &v) && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v); i++)
			rt_queue_json(s, json_object_array_get_idx(v, i));
	if (json_object_object_get_ex(o, "close", &v) && json_object_get_boolean(v))
	{
		RtLocal.auth_failures++;
		rt_close_after(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication failed");
	}
	json_object_put(o);
}

/* Run sql ($1, $2 text) in a transaction of its own; the first column as text, or NULL
 * with *error set.  Errors are caught: a client's bad request must not end the gateway. */
static char *
run_sql(const char *sql, int nargs, Oid *types, Datum *values, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile result = NULL;

	*error = NULL;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0) == SPI_OK_SELECT &&
			SPI_processed > 0)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v)
				result = MemoryContextStrdup(cxt, v);
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		*error = e->message;
		result = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return result;
}

static void
process_requests(void)
{
	for (Session *s = sessions; s && RtPendingRequests > 0; s = s->next)
	{
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2];
		char	   *error;
		char	   *answer;

		if (s->request == NULL)
			continue;
		values[0] = CStringGetTextDatum(state_json(s));
		values[1] = CStringGetTextDatum(s->request);
		free(s->request);
		s->request = NULL;
		RtPendingRequests--;
		CHECK_FOR_INTERRUPTS();
		answer = run_sql("SELECT dwc._rt_request($1::jsonb, $2::jsonb)::text", 2, types, values, &error);
		if (answer)
			apply_answer(s, answer);
		else
		{
			ereport(LOG, (errmsg("dwc realtime gateway: a request failed: %s", error)));
			rt_queue_error(s, "internal", error ? error : "the request failed");
		}
	}
}

/* see session.h: a failed read of the database, logged; the gateway serves on */
void
rt_read_failed(MemoryContext cxt, const char *what)
{
	ErrorData  *e;

	MemoryContextSwitchTo(cxt);
	e = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	ereport(LOG, (errmsg("dwc realtime gateway could not read %s: %s", what, e->message)));
	FreeErrorData(e);
}

static void
fan_out(const int64 *ids, int n, bool overflow)
{
	StringInfoData sql;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext rows_cxt = AllocSetContextCreate(CurrentMemoryContext, "dwc realtime rows", ALLOCSET_DEFAULT_SIZES);

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "SELECT e.id, e.owner_user, e.subject, jsonb_build_object('type', 'event', 'id', e.id, "
						   "'at', e.at, 'kind', e.kind, 'subject', e.subject, 'payload', e.payload)::text "
						   "FROM dwc.events e WHERE ");
	if (overflow)
	{
		ereport(WARNING,
				(errmsg("dwc realtime gateway fell behind: events were committed faster than it could take them"),
				 errdetail("It catches up from dwc.events after id " INT64_FORMAT "; clients may see events out of commit order.",
						   last_event_id)));
		appendStringInfo(&sql, "e.id > " INT64_FORMAT " ORDER BY e.id LIMIT 10000", last_event_id);
	}
	else
	{
		/* in commit order, as the ring has them */
		StringInfoData arr;

		initStringInfo(&arr);
		appendStringInfoString(&arr, "ARRAY[");
		for (int i = 0; i < n; i++)
			appendStringInfo(&arr, "%s" INT64_FORMAT, i ? "," : "", ids[i]);
		appendStringInfoString(&arr, "]::int8[]");
		appendStringInfo(&sql, "e.id = ANY (%s) ORDER BY array_position(%s, e.id)", arr.data, arr.data);
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read events");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *owner_user;
			char	   *subject;
			char	   *text;
			size_t		len;

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(rows_cxt);
			owner_user = SPI_getvalue(tup, desc, 2);
			subject = SPI_getvalue(tup, desc, 3);
			text = SPI_getvalue(tup, desc, 4);
			len = strlen(text);
			RtLocal.events_seen++;
			for (Session *s = sessions; s; s = s->next)
				if (rt_visible(s, owner_user, subject))
				{
					rt_queue_text(s, text, len);
					RtLocal.events_sent++;
				}
			MemoryContextSwitchTo(cxt);
			MemoryContextReset(rows_cxt);
			last_event_id = Max(last_event_id, id);
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		rt_read_failed(cxt, "events");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	MemoryContextDelete(rows_cxt);
}

static void
publish_stats(void)
{
	RtStats    *st = DwcRealtimeStats();
	int			i = 0;

	if (st == NULL)
		return;
	DwcRealtimeLockStats(true);
	RtLocal.listening = st->listening;
	RtLocal.port = st->port;
	strlcpy(RtLocal.address, st->address, sizeof(RtLocal.address));
	RtLocal.started_at = st->started_at;
	RtLocal.ring_overflows = st->ring_overflows;
	RtLocal.open = nsessions;
	memcpy(st, &RtLocal, offsetof(RtStats, conns));
	for (Session *s = sessions; s && i < RT_MAX_CONNECTIONS; s = s->next, i++)
	{
		RtConnStat *c = &st->conns[i];

		c->id = s->id;
		strlcpy(c->user_id, s->authed ? s->user_id : "", sizeof(c->user_id));
		c->rooms = s->nrooms;
		c->connected_at = s->connected_at;
		c->messages_in = s->messages_in;
		c->messages_out = s->messages_out;
		c->bytes_out = s->bytes_out;
		c->queued = s->queued;
	}
	for (; i < RT_MAX_CONNECTIONS && st->conns[i].id != 0; i++)
		st->conns[i].id = 0;
	DwcRealtimeUnlockStats();
}

static void
set_listening(bool on)
{
	RtStats    *st = DwcRealtimeStats();

	if (st == NULL)
		return;
	DwcRealtimeLockStats(true);
	st->listening = on;
	st->port = on ? dwc_websocket_port : 0;
	strlcpy(st->address, on ? dwc_websocket_address : "", sizeof(st->address));
	st->started_at = on ? GetCurrentTimestamp() : 0;
	st->open = 0;
	for (int i = 0; i < RT_MAX_CONNECTIONS; i++)
		st->conns[i].id = 0;
	DwcRealtimeUnlockStats();
}

static void
open_wake_socket(void)
{
	struct sockaddr_un addr;
	unsigned int len;
	lws_sock_file_fd_type fd;

	wake_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	DwcRealtimeWakeAddress(MyProcPid, &addr, &len);
	if (wake_fd < 0 || bind(wake_fd, (struct sockaddr *) &addr, len) != 0)
	{
		ereport(LOG, (errmsg("dwc realtime gateway has no wake-up socket: %m"),
					  errdetail("Events reach clients at its next tick, within %d ms.", TICK_MS)));
		if (wake_fd >= 0)
			close(wake_fd);
		wake_fd = -1;
		return;
	}
	fd.filefd = wake_fd;
	if (lws_adopt_descriptor_vhost(lws_get_vhost_by_name(context, "default"), LWS_ADOPT_RAW_FILE_DESC,
								   fd, "dwc-wake", NULL) == NULL)
	{
		ereport(LOG, (errmsg("dwc realtime gateway could not poll its wake-up socket"),
					  errdetail("Events reach clients at its next tick, within %d ms.", TICK_MS)));
		wake_fd = -1;			/* closed by lws */
	}
}

static void
shutdown_gateway(int code, Datum arg)
{
	DwcRealtimeSetServing(InvalidOid, 0);
	set_listening(false);
	if (context)
		lws_context_destroy(context);
	context = NULL;
}

static void
log_lws(int level, const char *line)
{
	/* libwebsockets' own errors; write_stderr does not raise */
	write_stderr("dwc realtime gateway (libwebsockets): %s", line);
}

void
DwcRealtimeLoop(void)
{
	struct lws_context_creation_info info;
	int			port = dwc_websocket_port;
	char	   *address = pstrdup(dwc_websocket_address);
	MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "dwc realtime", ALLOCSET_DEFAULT_SIZES);
	TimestampTz draining_until = 0;
	TimestampTz last_stats = 0;
	TimestampTz last_progress = 0;
	int64		ids[TAKE];

	memset(&RtLocal, 0, sizeof(RtLocal));
	lws_set_log_level(LLL_ERR, log_lws);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = address;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
	info.max_http_header_data = 4096;
	context = lws_create_context(&info);
	if (context == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("dwc realtime gateway could not listen on %s:%d", address, port),
				 errhint("Check dwc.websocket_address and dwc.websocket_port: the port may be in use.")));
	before_shmem_exit(shutdown_gateway, (Datum) 0);
	open_wake_socket();
	DwcRealtimeSetServing(MyDatabaseId, MyProcPid);
	set_listening(true);
	lws_sul_schedule(context, 0, &tick_sul, tick, TICK_MS * LWS_US_PER_MS);
	ereport(LOG, (errmsg("dwc realtime gateway listening on %s:%d", address, port)));
	DwcSlotSetState("listening on %s:%d", address, port);

	for (;;)
	{
		TimestampTz now;
		bool		overflow;
		int			n;

		MemoryContextSwitchTo(loop_cxt);
		lws_service(context, 0);
		ResetLatch(MyLatch);
		if (!PostmasterIsAlive())
			proc_exit(1);

		/* SIGTERM: say goodbye (1001 going away), give clients half a second, then go */
		if (ProcDiePending && draining_until == 0)
		{
			draining_until = GetCurrentTimestamp() + 500 * 1000;
			for (Session *s = sessions; s; s = s->next)
				rt_close_after(s, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
		}
		if (draining_until != 0)
		{
			if (nsessions == 0 || GetCurrentTimestamp() >= draining_until)
				CHECK_FOR_INTERRUPTS();
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (dwc_websocket_port != port || strcmp(dwc_websocket_address, address) != 0)
			{
				ereport(LOG, (errmsg("dwc realtime gateway restarting for its new address")));
				proc_exit(0);
			}
		}

		if (RtPendingRequests > 0)
			process_requests();
		while ((n = DwcRealtimeTake(ids, TAKE, &overflow)) > 0 || overflow)
		{
			fan_out(ids, n, overflow);
			if (n < TAKE && !overflow)
				break;
		}

		now = GetCurrentTimestamp();
		if (now - last_progress >= PROGRESS_MS * 1000)
		{
			RtPushProgress(sessions);
			last_progress = now;
		}
		for (Session *s = sessions; s; s = s->next)
			if (!s->authed && !s->closing && s->request == NULL &&
				now - s->connected_at > (int64) AUTH_TIMEOUT_S * USECS_PER_SEC)
				rt_close_after(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authenticate first");
		if (now - last_stats >= 200 * 1000)
		{
			publish_stats();
			last_stats = now;
		}
		MemoryContextReset(loop_cxt);
	}
}
