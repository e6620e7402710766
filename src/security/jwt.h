/*-------------------------------------------------------------------------
 *
 * jwt.h
 *		HS256 JSON Web Tokens, compatible with PostgREST.
 *
 * src/security/jwt.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_JWT_H
#define DWC_JWT_H

#include "utils/jsonb.h"

extern char *dwc_jwt_secret;
extern bool dwc_jwt_secret_is_base64;
extern char *dwc_jwt_audience;
extern int	dwc_jwt_clock_skew_s;

/* in jwt.c */
extern void DwcDefineJwtGucs(void);
extern char *DwcJwtSign(const char *payload_json);
extern Jsonb *DwcJwtVerify(const char *token, const char *audience, double now);

#endif							/* DWC_JWT_H */
