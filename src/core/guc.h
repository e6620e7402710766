/*-------------------------------------------------------------------------
 *
 * guc.h
 *		dwc's configuration settings (GUCs), all under the "dwc." prefix.
 *
 * docs/configuration.md documents every one of them.
 *
 * src/core/guc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_GUC_H
#define DWC_GUC_H

#include "nodes/pg_list.h"

/* background workers */
extern bool dwc_enabled;
extern char *dwc_databases;
extern int	dwc_naptime_ms;
extern int	dwc_shutdown_grace_ms;
extern int	dwc_worker_restart_delay_ms;
extern bool dwc_worker_synchronous_commit;

/* job queue */

/* scheduler */

/* AI */

/* outbound HTTP */
extern int	dwc_http_timeout_ms;
extern int	dwc_http_connect_timeout_ms;
extern int	dwc_http_max_response_kb;
extern int	dwc_http_max_redirects;

extern void DwcDefineGucs(void);
extern List *DwcDatabaseNames(void);

#endif							/* DWC_GUC_H */
