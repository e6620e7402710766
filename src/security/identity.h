/*-------------------------------------------------------------------------
 *
 * identity.h
 *		Who the current request is (roles, PostgREST claims, API keys).
 *
 * src/security/identity.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_IDENTITY_H
#define DWC_IDENTITY_H

#include "utils/jsonb.h"

/* in identity.c */
#include "nodes/pg_list.h"

extern char *DwcClaim(Jsonb *claims, const char *name);
extern Oid	DwcEffectiveUserId(void);
extern Oid	DwcRequestRoleId(void);
extern bool DwcIsApiKeyRequest(void);
extern List *DwcApiKeyScopes(void);
extern char *DwcCurrentUserId(void);
extern void DwcIdentityPin(Oid role, const char *subject);
extern void DwcIdentityUnpin(void);

#endif							/* DWC_IDENTITY_H */
