/*-------------------------------------------------------------------------
 *
 * init.c
 *		The events subsystem's settings.
 *
 * Events are rows and NOTIFYs made by SQL (events.sql); C only defines the
 * settings that SQL reads, so that they are known to the server, checked,
 * and reloadable.
 *
 * src/events/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "events/events.h"

static int	dwc_event_retention_min = 7 * 24 * 60;

static int	dwc_job_events = 1;

static const struct config_enum_entry job_events_options[] = {
	{"none", 0, false},
	{"failures", 1, false},
	{"all", 2, false},
	{NULL, 0, false}
};

void
DwcEventsInit(void)
{
	DefineCustomIntVariable("dwc.event_retention",
							"How long events are kept in dwc.events.",
							"Whole days: daily partitions older than this are dropped.",
							&dwc_event_retention_min,
							7 * 24 * 60, 24 * 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("dwc.job_events",
							 "Which finished jobs become events: none, failures (dead jobs) or all.",
							 "Every finished job as an event costs a row and a NOTIFY per job; at "
							 "tens of thousands of jobs a second, failures are what most want.",
							 &dwc_job_events,
							 1, job_events_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}
