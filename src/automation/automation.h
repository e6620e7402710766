/*-------------------------------------------------------------------------
 *
 * automation.h
 *		Automations: the subsystem's settings (automation.sql holds the rest;
 *		conditions are in cond.h).
 *
 * src/automation/automation.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AUTOMATION_H
#define DWC_AUTOMATION_H

/* defines dwc.automation_run_retention; called from _PG_init */
extern void DwcAutomationInit(void);

#endif							/* DWC_AUTOMATION_H */
