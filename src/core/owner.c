/*-------------------------------------------------------------------------
 *
 * owner.c
 *		Acting as the owner of dwc's objects (see owner.h).
 *
 * src/core/owner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"

#include "core/owner.h"

void
DwcBecomeOwner(DwcSavedUser *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
DwcRestoreUser(const DwcSavedUser *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

void
DwcRunAsOwner(void (*fn) (void *arg), void *arg)
{
	DwcSavedUser save;

	DwcBecomeOwner(&save);
	PG_TRY();
	{
		fn(arg);
	}
	PG_FINALLY();
	{
		DwcRestoreUser(&save);
	}
	PG_END_TRY();
}
