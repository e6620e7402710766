/*-------------------------------------------------------------------------
 *
 * init.c
 *		What the real-time gateway signs into at load: its settings, its
 *		shared memory and its worker kind (one, in the database it serves,
 *		when dwc.websocket_port is set).
 *
 * src/realtime/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/varlena.h"

#include "core/guc.h"
#include "core/registry.h"
#include "realtime/realtime.h"

int			dwc_websocket_port = 0;
char	   *dwc_websocket_address = NULL;
char	   *dwc_websocket_database = NULL;
int			dwc_websocket_max_connections = 100;
int			dwc_websocket_max_message = 65536;
int			dwc_websocket_queue_limit = 1000;
int			DwcRealtimeWorkerKind = -1;

/* the database the gateway serves: dwc.websocket_database, or the first of dwc.databases */
static bool
serves(const char *dbname)
{
	char	   *list;
	List	   *names = NIL;
	bool		first;

	if (dwc_websocket_database != NULL && dwc_websocket_database[0] != '\0')
		return strcmp(dwc_websocket_database, dbname) == 0;
	if (dwc_databases == NULL)
		return false;
	list = pstrdup(dwc_databases);
	if (!SplitIdentifierString(list, ',', &names) || names == NIL)
		return false;
	first = strcmp((char *) linitial(names), dbname) == 0;
	list_free(names);
	pfree(list);
	return first;
}

static int
gateways_wanted(const char *dbname)
{
	return dwc_websocket_port > 0 && serves(dbname) ? 1 : 0;
}

static const DwcWorkerKindDef realtime_worker_kind = {"realtime", gateways_wanted, DwcRealtimeLoop};

void
DwcRealtimeInit(void)
{
	DefineCustomIntVariable("dwc.websocket_port",
							"TCP port of the real-time WebSocket gateway; 0: no gateway.",
							NULL, &dwc_websocket_port, 0, 0, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.websocket_address",
							   "Address the WebSocket gateway listens on.",
							   "An IP address of this host; 127.0.0.1 keeps it to local clients (put a TLS "
							   "proxy in front for others).",
							   &dwc_websocket_address, "127.0.0.1",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.websocket_database",
							   "Database whose events the WebSocket gateway serves.",
							   "Empty: the first of dwc.databases.",
							   &dwc_websocket_database, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.websocket_max_connections",
							"Most WebSocket connections the gateway holds at once.",
							NULL, &dwc_websocket_max_connections, 100, 1, RT_MAX_CONNECTIONS,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.websocket_max_message",
							"Largest message a WebSocket client may send.",
							NULL, &dwc_websocket_max_message, 65536, 256, 1048576,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.websocket_queue_limit",
							"Most messages waiting for one slow WebSocket client before it is disconnected.",
							NULL, &dwc_websocket_queue_limit, 1000, 10, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DwcRegisterShmem(DwcRealtimeShmemSize, DwcRealtimeShmemInit, "dwc realtime");
	DwcRealtimeWorkerKind = DwcRegisterWorkerKind(&realtime_worker_kind);
}
