/*-------------------------------------------------------------------------
 *
 * jwt.c
 *		HS256 JSON Web Tokens, compatible with PostgREST's jwt-secret.
 *
 * dwc issues access tokens that PostgREST verifies with the same secret,
 * and verifies tokens itself for SQL use (dwc.jwt_verify).  Only HS256 is
 * accepted: "none" and every other algorithm are refused, whatever the
 * header says, which closes the classic algorithm-confusion holes.  The
 * signature is compared in constant time.  exp and nbf are checked with
 * dwc.jwt_clock_skew of tolerance; aud must match when an audience is
 * expected.
 *
 * The secret: dwc.jwt_secret (superuser only, hidden), at least 32 bytes,
 * or base64 of at least 32 bytes with dwc.jwt_secret_is_base64, exactly
 * like PostgREST's jwt-secret and jwt-secret-is-base64.
 *
 * src/security/jwt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/base64.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "core/errors.h"
#include "core/jsonc.h"
#include "security/digest.h"
#include "security/jwt.h"

char	   *dwc_jwt_secret = NULL;
bool		dwc_jwt_secret_is_base64 = false;
char	   *dwc_jwt_audience = NULL;
int			dwc_jwt_clock_skew_s = 30;
static int	dwc_jwt_access_ttl_s = 900;
static int	dwc_jwt_refresh_ttl_s = 30 * 86400;

#define MIN_SECRET_LEN 32

/* The secret's bytes; NULL with *why set when it is unusable. */
static unsigned char *
secret_bytes(const char *secret, bool is_base64, size_t *len, const char **why)
{
	if (secret == NULL || secret[0] == '\0')
	{
		*why = "dwc.jwt_secret is not set.";
		return NULL;
	}
	if (is_base64)
	{
		int			n = strlen(secret);
		unsigned char *buf = palloc(pg_b64_dec_len(n) + 1);
		int			dlen = pg_b64_decode(secret, n, (char *) buf, pg_b64_dec_len(n));

		if (dlen < 0)
		{
			*why = "dwc.jwt_secret is not valid base64.";
			return NULL;
		}
		if (dlen < MIN_SECRET_LEN)
		{
			*why = "The secret must decode to at least 32 bytes.";
			return NULL;
		}
		*len = dlen;
		return buf;
	}
	if (strlen(secret) < MIN_SECRET_LEN)
	{
		*why = "The secret must be at least 32 bytes long.";
		return NULL;
	}
	*len = strlen(secret);
	return (unsigned char *) pstrdup(secret);
}

static bool
check_secret(char **newval, void **extra, GucSource source)
{
	const char *why = NULL;
	size_t		len;

	/* empty is allowed: it disables issuing and verifying tokens */
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (secret_bytes(*newval, dwc_jwt_secret_is_base64, &len, &why) == NULL)
	{
		GUC_check_errdetail("%s", why);
		return false;
	}
	return true;
}

void
DwcDefineJwtGucs(void)
{
	DefineCustomBoolVariable("dwc.jwt_secret_is_base64",
							 "Whether dwc.jwt_secret is base64 (as PostgREST's jwt-secret-is-base64).",
							 NULL, &dwc_jwt_secret_is_base64, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.jwt_secret",
							   "HS256 secret of access tokens; the same as PostgREST's jwt-secret.",
							   "At least 32 bytes. Empty disables login and token verification.",
							   &dwc_jwt_secret, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_secret, NULL, NULL);
	DefineCustomStringVariable("dwc.jwt_audience",
							   "The aud claim of issued tokens, required of verified ones (PostgREST's jwt-aud).",
							   "Empty: tokens carry no aud and any is accepted.",
							   &dwc_jwt_audience, "dwc",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.jwt_clock_skew",
							"Tolerance when checking exp and nbf of tokens.",
							NULL, &dwc_jwt_clock_skew_s, 30, 0, 600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.jwt_access_ttl",
							"Lifetime of the access tokens dwc issues.",
							NULL, &dwc_jwt_access_ttl_s, 900, 60, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.jwt_refresh_ttl",
							"Lifetime of refresh tokens (each use replaces the token).",
							NULL, &dwc_jwt_refresh_ttl_s, 30 * 86400, 300, 365 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

static unsigned char *
configured_secret(size_t *len)
{
	const char *why = NULL;
	unsigned char *s = secret_bytes(dwc_jwt_secret, dwc_jwt_secret_is_base64, len, &why);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tokens cannot be issued or verified"),
				 errdetail("%s", why),
				 errhint("Set dwc.jwt_secret (superuser only) to the jwt-secret of PostgREST, 32 bytes or more.")));
	return s;
}

/* base64url(header) "." base64url(payload) "." base64url(HMAC-SHA-256) */
char *
DwcJwtSign(const char *payload_json)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	size_t		keylen;
	unsigned char *key = configured_secret(&keylen);
	unsigned char mac[DWC_SHA256_LEN];
	char	   *input = psprintf("%s.%s",
								 DwcBase64UrlEncode((const unsigned char *) header, strlen(header)),
								 DwcBase64UrlEncode((const unsigned char *) payload_json, strlen(payload_json)));
	char	   *token;

	DwcHmacSha256(key, keylen, input, strlen(input), mac);
	explicit_bzero(key, keylen);
	token = psprintf("%s.%s", input, DwcBase64UrlEncode(mac, sizeof(mac)));
	return token;
}

static void invalid_token(const char *why) pg_attribute_noreturn();

static void
invalid_token(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PASSWORD),
			 errmsg("invalid token"),
			 errdetail("%s", why)));
}

/* The value of a top-level key of a jsonb object, or NULL. */
static JsonbValue *
get_key(Jsonb *j, const char *key)
{
	JsonbValue	k;

	if (!JB_ROOT_IS_OBJECT(j))
		return NULL;
	k.type = jbvString;
	k.val.string.val = unconstify(char *, key);
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
}

static Jsonb *
parse_part(const char *b64, size_t len, const char *what)
{
	size_t		n;
	unsigned char *raw = DwcBase64UrlDecode(b64, len, &n);
	Datum		d;
	char	   *text;

	if (raw == NULL)
		invalid_token(psprintf("The %s is not base64url.", what));
	text = pnstrdup((const char *) raw, n);
	if (!DwcJsonIsValid(text, n))
		invalid_token(psprintf("The %s is not JSON.", what));
	d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
	return DatumGetJsonbP(d);
}

/* A NumericDate claim in seconds, or NAN when absent; not a number: invalid. */
static double
numeric_date(Jsonb *claims, const char *name)
{
	JsonbValue *v = get_key(claims, name);

	if (v == NULL)
		return NAN;
	if (v->type != jbvNumeric)
		invalid_token(psprintf("Claim \"%s\" is not a number.", name));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static bool
audience_matches(Jsonb *claims, const char *expected)
{
	JsonbValue *aud = get_key(claims, "aud");

	if (aud == NULL)
		return false;
	if (aud->type == jbvString)
		return aud->val.string.len == strlen(expected) &&
			memcmp(aud->val.string.val, expected, aud->val.string.len) == 0;
	if (aud->type == jbvBinary && JsonContainerIsArray(aud->val.binary.data))
	{
		JsonbValue	k;

		k.type = jbvString;
		k.val.string.val = unconstify(char *, expected);
		k.val.string.len = strlen(expected);
		return findJsonbValueFromContainer(aud->val.binary.data, JB_FARRAY, &k) != NULL;
	}
	return false;
}

/*
 * Verify a token and return its claims.  audience NULL: no aud check.
 * now: seconds since the Unix epoch.
 */
Jsonb *
DwcJwtVerify(const char *token, const char *audience, double now)
{
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	Jsonb	   *header;
	Jsonb	   *claims;
	JsonbValue *alg;
	size_t		keylen;
	unsigned char *key;
	unsigned char mac[DWC_SHA256_LEN];
	unsigned char *sig;
	size_t		siglen;
	double		exp;
	double		nbf;

	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
	{
		invalid_token("A token has three dot-separated parts.");
		return NULL;			/* keep static analysers from following a NULL dot1 */
	}
	header = parse_part(token, dot1 - token, "header");
	alg = get_key(header, "alg");
	if (alg == NULL || alg->type != jbvString || alg->val.string.len != 5 ||
		memcmp(alg->val.string.val, "HS256", 5) != 0)
		invalid_token("Only HS256 tokens are accepted.");

	key = configured_secret(&keylen);
	DwcHmacSha256(key, keylen, token, dot2 - token, mac);
	explicit_bzero(key, keylen);
	sig = DwcBase64UrlDecode(dot2 + 1, strlen(dot2 + 1), &siglen);
	if (sig == NULL || siglen != sizeof(mac) || !DwcEqualConstantTime(sig, mac, sizeof(mac)))
		invalid_token("The signature does not match.");

	claims = parse_part(dot1 + 1, dot2 - dot1 - 1, "payload");
	if (!JB_ROOT_IS_OBJECT(claims))
		invalid_token("The payload is not a JSON object.");
	exp = numeric_date(claims, "exp");
	nbf = numeric_date(claims, "nbf");
	if (!isnan(exp) && now > exp + dwc_jwt_clock_skew_s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PASSWORD),
				 errmsg("token expired"),
				 errdetail("It expired %.0f seconds ago.", now - exp)));
	if (!isnan(nbf) && now + dwc_jwt_clock_skew_s < nbf)
		invalid_token("The token is not valid yet (nbf).");
	if (audience != NULL && audience[0] != '\0' && !audience_matches(claims, audience))
		invalid_token(psprintf("The token is not for audience \"%s\".", audience));
	return claims;
}

static double
epoch_of(TimestampTz t)
{
	return (double) (t - SetEpochTimestamp()) / USECS_PER_SEC;
}

PG_FUNCTION_INFO_V1(dwc_jwt_sign);
PG_FUNCTION_INFO_V1(dwc_jwt_verify);

/* dwc.jwt_sign(claims jsonb) returns text */
Datum
dwc_jwt_sign(PG_FUNCTION_ARGS)
{
	Jsonb	   *claims = PG_GETARG_JSONB_P(0);

	if (!JB_ROOT_IS_OBJECT(claims))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("claims must be a JSON object")));
	PG_RETURN_TEXT_P(cstring_to_text(DwcJwtSign(JsonbToCString(NULL, &claims->root, VARSIZE(claims)))));
}

/* dwc.jwt_verify(token text, audience text, at timestamptz) returns jsonb */
Datum
dwc_jwt_verify(PG_FUNCTION_ARGS)
{
	char	   *token;
	const char *audience = PG_ARGISNULL(1) ? dwc_jwt_audience : text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz at = PG_ARGISNULL(2) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(2);

	DWC_REQUIRE_ARG(0, "token");
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PG_RETURN_JSONB_P(DwcJwtVerify(token, audience, epoch_of(at)));
}
