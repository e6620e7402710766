/*-------------------------------------------------------------------------
 *
 * registry.h
 *		What subsystems sign into at _PG_init: shared memory, worker kinds,
 *		periodic maintenance, change counters.
 *
 * core/ knows no subsystem by name.  Each subsystem's Init function (called
 * from _PG_init in src/dwc.c) registers what it needs here, and core's
 * launcher, worker entry point, shared-memory hooks and the maintenance
 * loop work from the registrations alone.  Registration happens in the
 * postmaster (or, without preloading, in each backend) before any worker
 * starts, in a fixed order, so the numbers handed out agree in every
 * process.
 *
 * src/core/registry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_REGISTRY_H
#define DWC_REGISTRY_H

#include "datatype/timestamp.h"

/* ---- shared memory ---- */

/*
 * size: bytes to request; init: attach (and on first use initialise) the
 * subsystem's structures, called under AddinShmemInitLock; tranche: the
 * name of one named LWLock to request for it, or NULL.
 */
extern void DwcRegisterShmem(Size (*size) (void), void (*init) (void), const char *tranche);

/* core/shmem.c's hooks: request and attach what was registered */
extern void DwcRegistryShmemRequest(void);
extern void DwcRegistryShmemInit(void);

/* ---- worker kinds ---- */

typedef struct DwcWorkerKindDef
{
	const char *name;			/* "job": process title "dwc job worker N for database D" */
	int			(*per_database) (const char *dbname);	/* workers wanted in this served database, now */
	void		(*main) (void);	/* the worker's loop, once connected; does not return */
} DwcWorkerKindDef;

/* the launcher itself, always kind 0 */
#define DWC_WORKER_LAUNCHER 0
#define DWC_MAX_WORKER_KINDS 8

/* returns the kind's number, for the wake-up functions of core/shmem.h */
extern int	DwcRegisterWorkerKind(const DwcWorkerKindDef *def);
extern int	DwcNumWorkerKinds(void);	/* the launcher included */
extern const DwcWorkerKindDef *DwcWorkerKindDefOf(int kind);

/* ---- periodic maintenance ---- */

/*
 * Work a subsystem wants done every every_ms in each served database, by
 * that database's maintenance worker (core/maintenance.c); every_ms 0: at
 * every pass, without causing one.  fn runs in a transaction of its own with
 * SPI connected and a snapshot pushed; an error rolls back that task's work
 * alone (it is logged, and the task runs again after every_ms).  fn returns
 * true when it left work behind (a backlog), which makes it run again at the
 * next pass instead of after every_ms.
 */
typedef bool (*DwcMaintenanceFn) (void);

extern int	DwcRegisterMaintenance(const char *name, int every_ms, DwcMaintenanceFn fn);

/* the same, and run once more when the maintenance worker stops cleanly */
extern int	DwcRegisterMaintenanceAtExit(const char *name, int every_ms, DwcMaintenanceFn fn);

/*
 * Both return the task's number, the same in every process (tasks are
 * registered at load).  From any backend: run that task in a database's
 * maintenance worker now, not at its next interval (a buffer in shared
 * memory filling up).  False when no maintenance worker of the database
 * runs, or the caller is that worker.
 */
extern bool DwcMaintenanceRequest(Oid dboid, int task);

/*
 * In a task: run one statement; the first column of its first row as an
 * integer (a bool as 0 or 1), 0 without a row or for NULL.  An error names
 * "what" ("could not <what>").
 */
extern int64 DwcMaintenanceSql(const char *sql, const char *what);

/*
 * A table of dwc that the maintenance worker vacuums (a plain VACUUM, outside
 * any task's transaction) as soon as its dead rows reach dead_rows and the
 * query quiet (one boolean) says the work that makes them is over, without
 * waiting for autovacuum's naptime: a queue's burst of finished jobs leaves
 * dead rows that slow the claims after it until they are gone, and a vacuum
 * during the burst would take the CPU it runs on.
 */
extern void DwcRegisterVacuum(const char *relname, int dead_rows, const char *quiet);

/* core's Init: the maintenance worker kind, one per served database */
extern void DwcRegisterMaintenanceWorker(void);

/* ---- change counters ---- */

/*
 * A counter in shared memory that commits bump: backends caching something
 * derived from a table compare it with the value they cached at.  0 means
 * "unknown" (no shared memory): do not trust any cache.
 */
#define DWC_MAX_COUNTERS 8

extern int	DwcRegisterCounter(const char *name);
extern void DwcBumpCounterAtCommit(int counter);
extern uint64 DwcCounterValue(int counter);

#endif							/* DWC_REGISTRY_H */
