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
extern Jsonb *DwcRequestClaims(void);
extern char *DwcClaim(Jsonb *claims, const char *name);
extern Oid	DwcEffectiveUserId(void);
extern bool DwcIsApiKeyRequest(void);
extern char *DwcCurrentUserId(void);

#endif							/* DWC_IDENTITY_H */
