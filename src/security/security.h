/*-------------------------------------------------------------------------
 *
 * security.h
 *		Loading the security subsystem (init.c).
 *
 * src/security/security.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_SECURITY_H
#define DWC_SECURITY_H

extern void DwcSecurityInit(void);

#endif							/* DWC_SECURITY_H */
