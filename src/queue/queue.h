/*-------------------------------------------------------------------------
 *
 * queue.h
 *		The durable job queue: enqueueing, job kinds, the job worker.
 *
 * src/queue/README.md describes the job life cycle and its guarantees.
 *
 * src/queue/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_QUEUE_H
#define DWC_QUEUE_H

#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#define DWC_PRIORITY_MIN (-1000)
#define DWC_PRIORITY_MAX 1000
#define DWC_MAX_NAME_LEN 200

/* built-in kinds run in C; others call a SQL function */
typedef enum DwcBuiltinKind
{
	DWC_KIND_FUNCTION = 0,		/* not built in: handler(payload jsonb) returns jsonb */
	DWC_KIND_NOOP,
	DWC_KIND_SQL,
	DWC_KIND_HTTP
} DwcBuiltinKind;

/* how many final errors (dwc.job_kinds.final_errors) a kind may name */
#define DWC_MAX_FINAL_ERRORS 16

typedef struct DwcJobKind
{
	char		kind[64];
	DwcBuiltinKind builtin;
	Oid			handler;		/* for DWC_KIND_FUNCTION */
	int32		default_timeout_ms; /* 0: dwc.job_timeout */
	int32		default_max_attempts;	/* 0: dwc.job_max_attempts */
	bool		leased;			/* runs after the claiming transaction commits */
	int			nfinal;			/* errors no other attempt can fix ... */
	int			final_errors[DWC_MAX_FINAL_ERRORS];	/* ... as MAKE_SQLSTATE codes */
} DwcJobKind;

/* what to enqueue; zero/NULL fields take their defaults */
typedef struct DwcJobSpec
{
	const char *kind;
	Jsonb	   *payload;		/* an object; NULL for {} */
	const char *queue;
	int16		priority;
	TimestampTz run_at;			/* 0: now */
	int32		max_attempts;
	int32		timeout_ms;
	const char *unique_key;
	const char *name;
	int64		schedule_id;
	/*
	 * The API-key scopes the job keeps (NULL: none, all the role's rights);
	 * with scopes_given false, those of the current request or job.
	 */
	bool		scopes_given;
	ArrayType  *scopes;
} DwcJobSpec;

/* in kinds.c */
extern bool DwcLookupJobKind(const char *kind, DwcJobKind *out);
extern void DwcValidateJobPayload(const DwcJobKind *kind, Jsonb *payload, Oid role);
extern void DwcCheckQueueName(const char *queue);
extern void DwcCheckKindScopes(const DwcJobKind *kind, ArrayType *scopes);

/* in enqueue.c */
extern int16 DwcParsePriority(const char *text);
extern int64 DwcEnqueue(const DwcJobSpec *spec, Oid role, const char *user);

/* in init.c: the job worker kind and the counter of queue settings changes */
extern int	DwcJobWorkerKind;
extern int	DwcQueueCounter;
extern void DwcQueueInit(void);

/* in worker.c */
extern void DwcJobWorkerLoop(void);
extern int	DwcRecoverLostJobs(void);

/* in journal.c */
extern int	DwcJournalRecoverDead(void);

/* in progress.c: the running job's phase and done/total (-1: unknown); false outside a job */
extern bool DwcJobProgress(const char *phase, int64 done, int64 total);

#endif							/* DWC_QUEUE_H */
