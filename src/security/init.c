/*-------------------------------------------------------------------------
 *
 * init.c
 *		What security signs into at load: its settings (keys, tokens,
 *		passwords), the shared memory of rate limits and of the security
 *		event buffer, the buffer's flush and the events' retention.
 *
 * src/security/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "core/registry.h"
#include "security/crypto.h"
#include "security/events.h"
#include "security/jwt.h"
#include "security/password.h"
#include "security/ratelimit.h"
#include "security/security.h"

/* security events are kept as long as the audit log */
static bool
security_event_retention(void)
{
	(void) DwcMaintenanceSql("DELETE FROM dwc.security_events "
							 "WHERE at < now() - current_setting('dwc.audit_retention')::interval",
							 "apply the retention of security events");
	return false;
}

void
DwcSecurityInit(void)
{
	DwcDefineCryptoGucs();
	DwcDefineJwtGucs();
	DwcDefinePasswordGucs();
	DwcRegisterShmem(DwcRateLimitShmemSize, DwcRateLimitShmemInit, "dwc rate limits");
	DwcSecurityEventsRegister();
	DwcRegisterMaintenance("security event retention", 10 * 60 * 1000, security_event_retention);
}
