/*-------------------------------------------------------------------------
 *
 * totp.c
 *		Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP).
 *
 * HMAC-SHA-1 of the 8-byte big-endian step counter, dynamic truncation,
 * modulo 10^digits: what every authenticator app computes for an
 * otpauth://totp URI with the defaults (SHA1, 6 digits, 30 s).  Matching
 * accepts the current step and one on either side (clock drift) and
 * returns the step that matched, so the caller can refuse a step already
 * used (replay).
 *
 * src/security/totp.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/errors.h"
#include "security/digest.h"

static const uint32 pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

static uint32
hotp(const unsigned char *key, size_t keylen, uint64 counter, int digits)
{
	unsigned char msg[8];
	unsigned char mac[DWC_SHA1_LEN];
	int			off;
	uint32		bin;
	int			i;

	for (i = 7; i >= 0; i--)
	{
		msg[i] = (unsigned char) (counter & 0xFF);
		counter >>= 8;
	}
	DwcHmacSha1(key, keylen, msg, sizeof(msg), mac);
	off = mac[DWC_SHA1_LEN - 1] & 0x0F;
	bin = ((uint32) (mac[off] & 0x7F) << 24) | ((uint32) mac[off + 1] << 16) |
		((uint32) mac[off + 2] << 8) | mac[off + 3];
	return bin % pow10[digits];
}

static int64
step_of(TimestampTz at, int step_s)
{
	int64		unix_s = (at - SetEpochTimestamp()) / USECS_PER_SEC;

	return unix_s >= 0 ? unix_s / step_s : -1;
}

static void
check_params(int digits, int step_s)
{
	if (digits < 6 || digits > 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("digits must be between 6 and 8, not %d", digits)));
	if (step_s < 1 || step_s > 300)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("step must be between 1 and 300 seconds, not %d", step_s)));
}

PG_FUNCTION_INFO_V1(dwc_totp_code);
PG_FUNCTION_INFO_V1(dwc__totp_match);

/* dwc.totp_code(secret bytea, at timestamptz, digits int, step int) returns text */
Datum
dwc_totp_code(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
	int			digits = PG_GETARG_INT32(2);
	int			step_s = PG_GETARG_INT32(3);
	int64		step;

	check_params(digits, step_s);
	step = step_of(at, step_s);
	if (step < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP needs a time after 1970-01-01")));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%0*u", digits,
											  hotp((unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
												   (uint64) step, digits))));
}

/*
 * dwc._totp_match(secret bytea, code text, at timestamptz, after_step int8)
 * returns int8: the step (of 30 s, 6 digits) whose code this is, within one
 * step of at and later than after_step; NULL if none.
 */
Datum
dwc__totp_match(PG_FUNCTION_ARGS)
{
	bytea	   *key;
	char	   *code;
	int64		now;
	int64		after;
	char	   *end;
	long		given;
	int64		s;
	bool		found = false;
	int64		matched = 0;

	/* not STRICT: after_step is NULL until the first code is used */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	key = PG_GETARG_BYTEA_PP(0);
	code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	now = step_of(PG_GETARG_TIMESTAMPTZ(2), 30);
	after = PG_ARGISNULL(3) ? -1 : PG_GETARG_INT64(3);

	if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
		PG_RETURN_NULL();
	given = strtol(code, &end, 10);
	/* check every candidate, so the time taken does not say which matched */
	for (s = now - 1; s <= now + 1; s++)
	{
		uint32		c;

		if (s < 0)
			continue;
		c = hotp((unsigned char *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), (uint64) s, 6);
		if (c == (uint32) given && s > after && !found)
		{
			found = true;
			matched = s;
		}
	}
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_INT64(matched);
}
