/*-------------------------------------------------------------------------
 *
 * password.h
 *		Argon2id password hashes and the password policy.
 *
 * src/security/password.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_PASSWORD_H
#define DWC_PASSWORD_H

#include "nodes/pg_list.h"

extern int	dwc_argon2_memory_kb;
extern int	dwc_argon2_iterations;
extern int	dwc_password_min_length;
extern int	dwc_password_min_classes;

/* in password.c */
extern void DwcDefinePasswordGucs(void);
extern char *DwcPasswordHash(const char *password, size_t len);
extern bool DwcPasswordVerify(const char *password, size_t len, const char *encoded);
extern bool DwcPasswordNeedsRehash(const char *encoded);
extern bool DwcIsCommonPassword(const char *lower);
extern bool DwcCommonPasswordsSorted(void);
extern List *DwcPasswordProblems(const char *password, const char *username);

#endif							/* DWC_PASSWORD_H */
