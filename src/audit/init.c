/*-------------------------------------------------------------------------
 *
 * init.c
 *		What the audit trail signs into at load: its settings and the sealing
 *		of the hash chain over finished transactions' rows.
 *
 * src/audit/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "audit/audit.h"
#include "core/nodes.h"
#include "core/registry.h"

/* audit rows sealed per transaction */
#define AUDIT_SEAL_BATCH 10000

/*
 * Extend the hash chain over the rows of finished transactions, once a
 * second; while writers outpace that, a batch per pass (each in its own
 * transaction), so the unsealed tail cannot grow without bound.
 */
static bool
audit_seal(void)
{
	return DwcMaintenanceSql(psprintf("SELECT dwc._audit_seal(%d)", AUDIT_SEAL_BATCH),
							 "seal the audit log") >= AUDIT_SEAL_BATCH;
}

/*
 * On a Citus coordinator: copy a sealed batch of each worker node's audit
 * rows of distributed tables into this node's trail (audit/collect.sql).
 */
static bool
audit_collect_nodes(void)
{
	return DwcCitusLoaded() &&
		DwcMaintenanceSql("SELECT dwc._audit_collect_nodes()", "collect the worker nodes' audit rows") != 0;
}

void
DwcAuditInit(void)
{
	DwcDefineAuditGucs();
	DwcRegisterMaintenance("audit seal", 1000, audit_seal);
	DwcRegisterMaintenance("audit rows of Citus worker nodes", 1000, audit_collect_nodes);
}
