/*-------------------------------------------------------------------------
 *
 * sign.c
 *		The signature of webhook notifications: HMAC-SHA256 over
 *		"<timestamp>.<body>", the scheme dwc's inbound webhooks check too
 *		(src/automation/webhook.c).
 *
 * src/notify/sign.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "security/digest.h"

PG_FUNCTION_INFO_V1(dwc__hmac_sha256_hex);

/* dwc._hmac_sha256_hex(key, message): the signature of webhook notifications */
Datum
dwc__hmac_sha256_hex(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	text	   *msg = PG_GETARG_TEXT_PP(1);
	unsigned char mac[32];

	DwcHmacSha256(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg), mac);
	PG_RETURN_TEXT_P(cstring_to_text(DwcHex(mac, sizeof(mac))));
}
