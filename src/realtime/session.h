/*-------------------------------------------------------------------------
 *
 * session.h
 *		A gateway connection (session.c): its state, its queue of outgoing
 *		messages and its rooms, in malloc'd memory only, since libwebsockets'
 *		callbacks must not raise.
 *
 * src/realtime/session.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_RT_SESSION_H
#define DWC_RT_SESSION_H

#include <libwebsockets.h>

#include "datatype/timestamp.h"

#include "realtime/realtime.h"

#include "core/jsonc_prelude.h"

#define MAX_ROOMS 50

typedef struct OutMsg
{
	struct OutMsg *next;
	size_t		len;
	unsigned char buf[FLEXIBLE_ARRAY_MEMBER];	/* LWS_PRE bytes, then the message */
} OutMsg;

typedef struct Session
{
	struct lws *wsi;
	int64		id;
	struct Session *next;
	struct Session *prev;
	char	   *rx;				/* the message being received */
	size_t		rx_len;
	char	   *request;		/* a request waiting for the database, or NULL */
	char	   *state;			/* JSON state kept by dwc._rt_request() */
	bool		authed;
	bool		admin;
	char		user_id[64];
	char	   *rooms[MAX_ROOMS];
	int			nrooms;
	OutMsg	   *head;
	OutMsg	   *tail;
	int			queued;
	bool		closing;		/* close once the queue is sent */
	bool		drop;			/* close now, without sending the queue */
	int			close_code;
	char		close_reason[64];
	TimestampTz connected_at;
	int64		messages_in;
	int64		messages_out;
	int64		bytes_out;
} Session;

/* the gateway's counters and its requests waiting for the database (gateway.c) */
extern RtStats RtLocal;
extern int	RtPendingRequests;

/* queue a message for the client; a client whose queue is full is cut off */
extern void rt_queue_text(Session *s, const char *text, size_t len);
extern void rt_queue_json(Session *s, struct json_object *o);
extern void rt_queue_error(Session *s, const char *code, const char *message);

/* close once what is queued has been sent */
extern void rt_close_after(Session *s, int code, const char *reason);

extern void rt_free_rooms(Session *s);

/* free what the session holds (not the session itself, which libwebsockets owns) */
extern void rt_free_session(Session *s);

extern bool rt_in_room(const Session *s, const char *room);

/* may the session see what (owner_user, subject) says? the rule of dwc._rt_visible() */
extern bool rt_visible(const Session *s, const char *owner_user, const char *subject);

/*
 * After a failed read of the database (in a PG_CATCH block): abort the
 * transaction and log why, in cxt.  The gateway goes on serving its clients.
 */
extern void rt_read_failed(MemoryContext cxt, const char *what);

/* in progress.c: push the progress running jobs said since the last push */
extern void RtPushProgress(Session *sessions);

#endif							/* DWC_RT_SESSION_H */
