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
extern int	dwc_job_workers;
extern int	dwc_naptime_ms;
extern int	dwc_worker_restart_delay_ms;
extern bool dwc_worker_synchronous_commit;

/* job queue */
extern int	dwc_job_batch_size;
extern int	dwc_job_timeout_ms;
extern int	dwc_job_max_attempts;
extern int	dwc_job_backoff_base_ms;
extern int	dwc_job_backoff_max_ms;
extern int	dwc_job_lease_grace_ms;
extern int	dwc_job_history_retention_min;

/* scheduler */
extern int	dwc_scheduler_misfire_grace_ms;
extern int	dwc_schedule_run_retention_min;

/* AI */
extern char *dwc_default_provider;
extern char *dwc_openai_api_key;
extern char *dwc_anthropic_api_key;
extern char *dwc_google_api_key;
extern int	dwc_ai_call_retention_min;

/* outbound HTTP */
extern int	dwc_http_timeout_ms;
extern int	dwc_http_connect_timeout_ms;
extern int	dwc_http_max_response_kb;
extern int	dwc_http_max_redirects;

extern void DwcDefineGucs(void);
extern List *DwcDatabaseNames(void);

#endif							/* DWC_GUC_H */
