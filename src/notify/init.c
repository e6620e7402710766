/*-------------------------------------------------------------------------
 *
 * init.c
 *		What notifications sign into at load: their settings and the
 *		retention of the outbox.
 *
 * src/notify/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "core/registry.h"
#include "notify/notify.h"

static int	notification_retention_min = 30 * 24 * 60;
static char *security_alert_channel = NULL;

/* finished notifications and in-app messages past their retention */
static bool
notify_retention(void)
{
	/* a full batch: come back at the next pass */
	return DwcMaintenanceSql(psprintf("SELECT dwc._notify_retention(interval '%d minutes')",
									  notification_retention_min),
							 "apply the retention of notifications") >= 10000;
}

void
DwcNotifyInit(void)
{
	DefineCustomIntVariable("dwc.notification_retention",
							"How long finished notifications and in-app messages are kept.",
							NULL,
							&notification_retention_min,
							30 * 24 * 60, 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.security_alert_channel",
							   "Notification channel that security alerts to users go through.",
							   "Lockouts and refresh-token reuse are sent to the user concerned through this "
							   "channel (an email channel, typically); empty: none are sent.",
							   &security_alert_channel,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DwcRegisterMaintenance("notification retention", 10 * 60 * 1000, notify_retention);
}
