/*-------------------------------------------------------------------------
 *
 * realtime.h
 *		The real-time gateway: a WebSocket server in a dwc background worker
 *		that pushes the events each client may see.
 *
 * src/realtime/realtime.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_REALTIME_H
#define DWC_REALTIME_H

#include "datatype/timestamp.h"

/* settings (init.c) */
extern int	dwc_websocket_port;
extern char *dwc_websocket_address;
extern char *dwc_websocket_database;
extern int	dwc_websocket_max_connections;
extern int	dwc_websocket_max_message;
extern int	dwc_websocket_queue_limit;
extern int	DwcRealtimeWorkerKind;

extern void DwcRealtimeInit(void);

/* ring.c: ids of committed events, from the inserting backends to the gateway */
#define RT_MAX_CONNECTIONS 1024

typedef struct RtConnStat
{
	int64		id;				/* 0: free */
	char		user_id[64];
	int			rooms;
	TimestampTz connected_at;
	int64		messages_in;
	int64		messages_out;
	int64		bytes_out;
	int			queued;
} RtConnStat;

typedef struct RtStats
{
	bool		listening;
	int			port;
	char		address[64];
	TimestampTz started_at;
	int64		connections_total;
	int64		connections_rejected;
	int64		auth_failures;
	int64		messages_in;
	int64		messages_out;
	int64		bytes_out;
	int64		events_seen;
	int64		events_sent;
	int64		progress_sent;	/* progress messages of running jobs */
	int64		slow_closed;
	int64		ring_overflows;
	int			open;
	RtConnStat	conns[RT_MAX_CONNECTIONS];
} RtStats;

extern Size DwcRealtimeShmemSize(void);
extern void DwcRealtimeShmemInit(void);
extern void DwcRealtimeSetServing(Oid dboid, int gateway_pid);
/* the gateway's wake-up socket: an abstract AF_UNIX datagram address named after its pid */
extern void DwcRealtimeWakeAddress(int pid, void *sockaddr_un, unsigned int *len);
/* take up to max ids; *overflow set when ids were lost since the last call */
extern int	DwcRealtimeTake(int64 *ids, int max, bool *overflow);
extern RtStats *DwcRealtimeStats(void);	/* under the caller's DwcRealtimeLockStats */
extern void DwcRealtimeLockStats(bool exclusive);
extern void DwcRealtimeUnlockStats(void);

/* gateway.c */
extern void DwcRealtimeLoop(void);

#endif							/* DWC_REALTIME_H */
