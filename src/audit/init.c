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

void
DwcAuditInit(void)
{
	DwcDefineAuditGucs();
	DwcRegisterMaintenance("audit seal", 1000, audit_seal);
}
