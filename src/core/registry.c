/*-------------------------------------------------------------------------
 *
 * registry.c
 *		The registrations of core/registry.h (maintenance tasks: maintenance.c).
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

typedef struct ShmemPart
{
	Size		(*size) (void);
	void		(*init) (void);
	const char *tranche;
} ShmemPart;

static ShmemPart shmem_parts[MAX_SHMEM_PARTS];
static int	n_shmem_parts = 0;

static DwcWorkerKindDef launcher_kind = {"launcher", NULL, NULL};
static const DwcWorkerKindDef *kinds[DWC_MAX_WORKER_KINDS] = {&launcher_kind};
static int	n_kinds = 1;

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

int
DwcRegisterCounter(const char *name)
{
	if (n_counters >= DWC_MAX_COUNTERS)
		elog(ERROR, "too many dwc change counters");
	counters[n_counters] = name;
	return n_counters++;
}
