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

#include "utils/array.h"
#include "utils/jsonb.h"

/* in identity.c */
#include "nodes/pg_list.h"

extern char *DwcClaim(Jsonb *claims, const char *name);
extern Oid	DwcEffectiveUserId(void);
extern Oid	DwcRequestRoleId(void);
extern bool DwcIsApiKeyRequest(void);
extern List *DwcApiKeyScopes(void);
extern bool DwcIsScoped(void);
extern bool DwcScopesAllow(List *scopes, const char *group, bool readonly);
extern bool DwcScopeAllows(const char *group, bool readonly);
extern void DwcRequireScope(const char *group, const char *what);
extern ArrayType *DwcCurrentScopesArray(void);
extern bool DwcScopesArrayAllow(ArrayType *scopes, const char *group);
extern char *DwcCurrentUserId(void);
extern void DwcIdentityPin(Oid role, const char *subject, ArrayType *scopes);
extern void DwcIdentityUnpin(void);

#endif							/* DWC_IDENTITY_H */
