/*-------------------------------------------------------------------------
 *
 * webhook.c
 *		Verifying the signature of an inbound webhook.
 *
 * The sender signs "<timestamp>.<body>" with HMAC-SHA256 under the
 * automation's secret and sends it hex-encoded, optionally prefixed
 * "sha256=" (the scheme of Stripe and GitHub).  Signing the timestamp with
 * the body lets the caller (SQL) refuse replays outside a tolerance.  The
 * comparison takes the same time whatever the signature.
 *
 * src/automation/webhook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "security/digest.h"

PG_FUNCTION_INFO_V1(dwc__webhook_signature_valid);

/* dwc._webhook_signature_valid(secret, timestamp, body, signature) returns bool */
Datum
dwc__webhook_signature_valid(PG_FUNCTION_ARGS)
{
	text	   *secret;
	char	   *stamp;
	text	   *body;
	char	   *sig;
	StringInfoData msg;
	unsigned char mac[DWC_SHA256_LEN];
	char	   *hex;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_BOOL(false);
	secret = PG_GETARG_TEXT_PP(0);
	stamp = text_to_cstring(PG_GETARG_TEXT_PP(1));
	body = PG_GETARG_TEXT_PP(2);
	sig = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (strncmp(sig, "sha256=", 7) == 0)
		sig += 7;
	initStringInfo(&msg);
	appendStringInfo(&msg, "%s.", stamp);
	appendBinaryStringInfo(&msg, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	DwcHmacSha256(VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), msg.data, msg.len, mac);
	hex = DwcHex(mac, sizeof(mac));
	PG_RETURN_BOOL(strlen(sig) == strlen(hex) && DwcEqualConstantTime(sig, hex, strlen(hex)));
}
