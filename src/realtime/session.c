/*-------------------------------------------------------------------------
 *
 * session.c
 *		A gateway connection's queue of outgoing messages, its closing, its
 *		rooms: malloc only, since libwebsockets' callbacks must not raise.
 *
 * src/realtime/session.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "realtime/session.h"

void
rt_queue_text(Session *s, const char *text, size_t len)
{
	OutMsg	   *m;

	if (s->drop)
		return;
	if (s->queued >= dwc_websocket_queue_limit)
	{
		/* a client that does not read is cut off, not buffered without end */
		s->drop = true;
		s->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
		strlcpy(s->close_reason, "too slow: too many messages waiting", sizeof(s->close_reason));
		RtLocal.slow_closed++;
		lws_callback_on_writable(s->wsi);
		return;
	}
	m = malloc(offsetof(OutMsg, buf) + LWS_PRE + len);
	if (m == NULL)
	{
		s->drop = true;
		s->close_code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
		strlcpy(s->close_reason, "out of memory", sizeof(s->close_reason));
		lws_callback_on_writable(s->wsi);
		return;
	}
	m->next = NULL;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->queued++;
	lws_callback_on_writable(s->wsi);
}

void
rt_queue_json(Session *s, struct json_object *o)
{
	size_t		len;
	const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);

	rt_queue_text(s, text, len);
}

void
rt_queue_error(Session *s, const char *code, const char *message)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	rt_queue_json(s, o);
	json_object_put(o);
}

void
rt_close_after(Session *s, int code, const char *reason)
{
	s->closing = true;
	s->close_code = code;
	strlcpy(s->close_reason, reason, sizeof(s->close_reason));
	lws_callback_on_writable(s->wsi);
}

void
rt_free_rooms(Session *s)
{
	for (int i = 0; i < s->nrooms; i++)
		free(s->rooms[i]);
	s->nrooms = 0;
}

void
rt_free_session(Session *s)
{
	OutMsg	   *m = s->head;

	while (m)
	{
		OutMsg	   *n = m->next;

		free(m);
		m = n;
	}
	s->head = s->tail = NULL;
	free(s->rx);
	if (s->request)
		RtPendingRequests--;
	free(s->request);
	free(s->state);
	rt_free_rooms(s);
	s->rx = s->request = s->state = NULL;
}

bool
rt_in_room(const Session *s, const char *room)
{
	for (int i = 0; i < s->nrooms; i++)
		if (strcmp(s->rooms[i], room) == 0)
			return true;
	return false;
}

/* the rule of dwc._rt_visible() (src/realtime/realtime.sql), for live events and progress */
bool
rt_visible(const Session *s, const char *owner_user, const char *subject)
{
	if (!s->authed)
		return false;
	if (s->admin && rt_in_room(s, "*"))
		return true;
	if (owner_user && rt_in_room(s, "user") && strcmp(owner_user, s->user_id) == 0)
		return true;
	return subject && rt_in_room(s, subject) &&
		(strncmp(subject, "room:", 5) == 0 || s->admin || (owner_user && strcmp(owner_user, s->user_id) == 0));
}
