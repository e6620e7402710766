/*-------------------------------------------------------------------------
 *
 * owner.h
 *		Acting as the owner of dwc's objects, the one way dwc's C does it.
 *
 * dwc's tables are private: users reach them through dwc's functions, which
 * check ownership themselves (src/security/ownership.sql) and then read or
 * write as the owner, here the bootstrap superuser, as pg_cron does for its
 * own tables.  SECURITY_LOCAL_USERID_CHANGE keeps SET ROLE and SET SESSION
 * AUTHORIZATION out meanwhile.
 *
 * src/core/owner.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CORE_OWNER_H
#define DWC_CORE_OWNER_H

typedef struct DwcSavedUser
{
	Oid			userid;
	int			sec_context;
} DwcSavedUser;

/*
 * Become the owner, saving who we were in *save; DwcRestoreUser(save) puts
 * it back.  An error in between needs nothing more: the (sub)transaction's
 * abort restores the user.
 */
extern void DwcBecomeOwner(DwcSavedUser *save);
extern void DwcRestoreUser(const DwcSavedUser *save);

/* fn(arg) as the owner, the user restored however fn ends (for callers that catch errors) */
extern void DwcRunAsOwner(void (*fn) (void *arg), void *arg);

#endif							/* DWC_CORE_OWNER_H */
