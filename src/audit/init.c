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

#include "executor/spi.h"

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
	bool		isnull;
	Datum		n;

	if (SPI_execute(psprintf("SELECT dwc._audit_seal(%d)", AUDIT_SEAL_BATCH), false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not seal the audit log");
	n = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetInt32(n) >= AUDIT_SEAL_BATCH;
}

/*
 * On a Citus coordinator: copy a sealed batch of each worker node's audit
 * rows of distributed tables into this node's trail (audit/collect.sql).
 */
static bool
audit_collect_nodes(void)
{
	bool		isnull;
	Datum		more;

	if (!DwcCitusLoaded())
		return false;
	if (SPI_execute("SELECT dwc._audit_collect_nodes()", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not collect the worker nodes' audit rows");
	more = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(more);
}

void
DwcAuditInit(void)
{
	DwcDefineAuditGucs();
	DwcRegisterMaintenance("audit seal", 1000, audit_seal);
	DwcRegisterMaintenance("audit rows of Citus worker nodes", 1000, audit_collect_nodes);
}
