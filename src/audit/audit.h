/*-------------------------------------------------------------------------
 *
 * audit.h
 *		The audit trail: trigger and settings.
 *
 * src/audit/audit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AUDIT_H
#define DWC_AUDIT_H

extern int	dwc_audit_retention_min;

/* in audit.c */
extern void DwcDefineAuditGucs(void);
extern void DwcAuditInit(void);

#endif							/* DWC_AUDIT_H */
