/*-------------------------------------------------------------------------
 *
 * system.c
 *		What the machine is doing, read from /proc and statvfs(), for the
 *		system metrics sampler.
 *
 * CPU usage is a ratio over the time since the previous call in the same
 * backend (the maintenance worker calls it at every sample), so the first
 * call has none.  Files that cannot be read (another OS, a container that
 * hides them) leave their readings out rather than fail the sample.
 *
 * src/metrics/system.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/jsonb.h"

#include "utils/builtins.h"

static uint64 prev_busy = 0;
static uint64 prev_total = 0;

static void
add(StringInfo out, const char *name, double v)
{
	appendStringInfo(out, "%s\"%s\": %.17g", out->len > 1 ? ", " : "", name, v);
}

static void
cpu(StringInfo out)
{
	FILE	   *f = fopen("/proc/stat", "r");
	unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
	uint64		busy;
	uint64		total;

	if (f == NULL)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &user, &nice, &sys, &idle, &iowait, &irq, &softirq, &steal) >= 4)
	{
		busy = user + nice + sys + irq + softirq + steal;
		total = busy + idle + iowait;
		if (prev_total != 0 && total > prev_total)
			add(out, "dwc_system_cpu_usage_ratio", (double) (busy - prev_busy) / (double) (total - prev_total));
		prev_busy = busy;
		prev_total = total;
	}
	fclose(f);
	add(out, "dwc_system_cpus", (double) sysconf(_SC_NPROCESSORS_ONLN));
}

static void
load(StringInfo out)
{
	FILE	   *f = fopen("/proc/loadavg", "r");
	double		l1;
	double		l5;

	if (f == NULL)
		return;
	if (fscanf(f, "%lf %lf", &l1, &l5) == 2)
	{
		add(out, "dwc_system_load1", l1);
		add(out, "dwc_system_load5", l5);
	}
	fclose(f);
}

static void
memory(StringInfo out)
{
	FILE	   *f = fopen("/proc/meminfo", "r");
	char		line[256];
	double		total = -1;
	double		avail = -1;

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		unsigned long long kb;

		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			total = (double) kb * 1024;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			avail = (double) kb * 1024;
	}
	fclose(f);
	if (total > 0)
		add(out, "dwc_system_memory_total_bytes", total);
	if (avail >= 0)
		add(out, "dwc_system_memory_available_bytes", avail);
	if (total > 0 && avail >= 0)
		add(out, "dwc_system_memory_used_ratio", 1.0 - avail / total);
}

static void
disk(StringInfo out)
{
	struct statvfs st;

	if (DataDir == NULL || statvfs(DataDir, &st) != 0)
		return;
	add(out, "dwc_system_disk_total_bytes", (double) st.f_blocks * st.f_frsize);
	add(out, "dwc_system_disk_free_bytes", (double) st.f_bavail * st.f_frsize);
}

static void
network(StringInfo out)
{
	FILE	   *f = fopen("/proc/net/dev", "r");
	char		line[512];
	double		rx = 0;
	double		tx = 0;
	bool		any = false;

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f))
	{
		char	   *colon = strchr(line, ':');
		char		iface[64];
		unsigned long long r, t, skip;

		if (colon == NULL || sscanf(line, " %63[^:]:", iface) != 1 || strcmp(iface, "lo") == 0)
			continue;
		/* rx: bytes packets errs drop fifo frame compressed multicast; then tx bytes */
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu",
				   &r, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &t) == 9)
		{
			rx += (double) r;
			tx += (double) t;
			any = true;
		}
	}
	fclose(f);
	if (any)
	{
		add(out, "dwc_system_network_receive_bytes_total", rx);
		add(out, "dwc_system_network_transmit_bytes_total", tx);
	}
}

PG_FUNCTION_INFO_V1(dwc__system_readings);

Datum
dwc__system_readings(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	cpu(&out);
	load(&out);
	memory(&out);
	disk(&out);
	network(&out);
	appendStringInfoChar(&out, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
