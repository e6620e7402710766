/*-------------------------------------------------------------------------
 *
 * registry.c
 *		The registrations of core/registry.h, and the maintenance pass.
 *
 * The tables are static arrays filled at _PG_init: they are the same in
 * every process forked from the postmaster, and cost no shared memory.
 *
 * src/core/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "core/registry.h"

#define MAX_SHMEM_PARTS 16
#define MAX_TASKS 32

typedef struct ShmemPart
{
	Size		(*size) (void);
	void		(*init) (void);
	const char *tranche;
} ShmemPart;

typedef struct Task
{
	const char *name;
	int			every_ms;
	DwcMaintenanceFn fn;
	TimestampTz last_run;		/* 0: never, in this process */
	bool		backlog;
} Task;

static ShmemPart shmem_parts[MAX_SHMEM_PARTS];
static int	n_shmem_parts = 0;

static DwcWorkerKindDef launcher_kind = {"launcher", NULL, NULL};
static const DwcWorkerKindDef *kinds[DWC_MAX_WORKER_KINDS] = {&launcher_kind};
static int	n_kinds = 1;

static Task tasks[MAX_TASKS];
static int	n_tasks = 0;

static const char *counters[DWC_MAX_COUNTERS];
static int	n_counters = 0;

void
DwcRegisterShmem(Size (*size) (void), void (*init) (void), const char *tranche)
{
	if (n_shmem_parts >= MAX_SHMEM_PARTS)
		elog(ERROR, "too many dwc shared memory registrations");
	shmem_parts[n_shmem_parts].size = size;
	shmem_parts[n_shmem_parts].init = init;
	shmem_parts[n_shmem_parts].tranche = tranche;
	n_shmem_parts++;
}

/* from the shmem_request hook */
void
DwcRegistryShmemRequest(void)
{
	int			i;

	for (i = 0; i < n_shmem_parts; i++)
	{
		RequestAddinShmemSpace(shmem_parts[i].size());
		if (shmem_parts[i].tranche)
			RequestNamedLWLockTranche(shmem_parts[i].tranche, 1);
	}
}

/* from the shmem_startup hook, under AddinShmemInitLock */
void
DwcRegistryShmemInit(void)
{
	int			i;

	for (i = 0; i < n_shmem_parts; i++)
		shmem_parts[i].init();
}

int
DwcRegisterWorkerKind(const DwcWorkerKindDef *def)
{
	if (n_kinds >= DWC_MAX_WORKER_KINDS)
		elog(ERROR, "too many dwc worker kinds");
	kinds[n_kinds] = def;
	return n_kinds++;
}

int
DwcNumWorkerKinds(void)
{
	return n_kinds;
}

const DwcWorkerKindDef *
DwcWorkerKindDefOf(int kind)
{
	if (kind < 0 || kind >= n_kinds)
		return NULL;
	return kinds[kind];
}

void
DwcRegisterMaintenance(const char *name, int every_ms, DwcMaintenanceFn fn)
{
	if (n_tasks >= MAX_TASKS)
		elog(ERROR, "too many dwc maintenance tasks");
	tasks[n_tasks].name = name;
	tasks[n_tasks].every_ms = every_ms;
	tasks[n_tasks].fn = fn;
	tasks[n_tasks].last_run = 0;
	tasks[n_tasks].backlog = false;
	n_tasks++;
}

static bool
task_due(const Task *t, TimestampTz now)
{
	return t->backlog || t->last_run == 0 || now - t->last_run >= (int64) t->every_ms * 1000;
}

/* tasks of every_ms 0 run at every pass, but never make one happen */
static bool
task_wakes(const Task *t)
{
	return t->every_ms > 0 || t->backlog;
}

bool
DwcMaintenanceDue(TimestampTz now)
{
	int			i;

	for (i = 0; i < n_tasks; i++)
		if (task_wakes(&tasks[i]) && task_due(&tasks[i], now))
			return true;
	return false;
}

TimestampTz
DwcNextMaintenance(void)
{
	TimestampTz next = DT_NOEND;
	int			i;

	for (i = 0; i < n_tasks; i++)
	{
		TimestampTz t;

		if (!task_wakes(&tasks[i]))
			continue;
		t = tasks[i].backlog || tasks[i].last_run == 0 ? 0
			: tasks[i].last_run + (int64) tasks[i].every_ms * 1000;

		next = Min(next, t);
	}
	return next;
}

void
DwcRunMaintenance(TimestampTz now)
{
	int			i;

	for (i = 0; i < n_tasks; i++)
	{
		Task	   *t = &tasks[i];

		if (!task_due(t, now))
			continue;
		CHECK_FOR_INTERRUPTS();
		/* an error ends the worker, as any error of its loop; its successor runs every task first */
		t->backlog = t->fn();
		t->last_run = now;
	}
}

int
DwcRegisterCounter(const char *name)
{
	if (n_counters >= DWC_MAX_COUNTERS)
		elog(ERROR, "too many dwc change counters");
	counters[n_counters] = name;
	return n_counters++;
}
