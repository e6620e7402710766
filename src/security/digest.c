/*-------------------------------------------------------------------------
 *
 * digest.c
 *		Hashes, MACs, random bytes and text encodings.
 *
 * Thin wrappers over OpenSSL's one-shot functions, raising PostgreSQL
 * errors on failure, plus the two encodings that security tokens use:
 * base64url without padding (JWT, RFC 7515) and base32 (TOTP secrets in
 * otpauth:// URIs, RFC 4648).  Decoders return NULL on malformed input
 * instead of raising, so callers can word the error for their context.
 *
 * src/security/digest.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "security/digest.h"

static void
digest_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("%s failed in OpenSSL", what)));
}

/*
 * SHA-256 with a digest context and algorithm kept for the life of the
 * process: OpenSSL 3 looks the algorithm up anew (a property query under a
 * lock) for every one-shot EVP_Digest(), which cost more than hashing the
 * 64 bytes of an audit chain step.  Backends are single-threaded, so one
 * context is enough; it lives in OpenSSL's heap, like OpenSSL's own caches.
 */
void
DwcSha256(const void *data, size_t len, unsigned char *out)
{
	static EVP_MD_CTX *ctx = NULL;
	static const EVP_MD *md = NULL;
	unsigned int outlen = 0;

	if (md == NULL)
	{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
		md = EVP_sha256();
#endif
		if (md == NULL)
			digest_failed("SHA-256");
	}
	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		digest_failed("SHA-256");
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
		EVP_DigestFinal_ex(ctx, out, &outlen) != 1 || outlen != DWC_SHA256_LEN)
		digest_failed("SHA-256");
}

void
DwcHmacSha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen, data, len, out, &outlen) == NULL || outlen != DWC_SHA256_LEN)
		digest_failed("HMAC-SHA-256");
}

void
DwcHmacSha1(const void *key, size_t keylen, const void *data, size_t len, unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha1(), key, (int) keylen, data, len, out, &outlen) == NULL || outlen != DWC_SHA1_LEN)
		digest_failed("HMAC-SHA-1");
}

void
DwcRandomBytes(void *buf, size_t len)
{
	if (RAND_bytes(buf, (int) len) != 1)
		digest_failed("generating random bytes");
}

/* Compare without leaking, through timing, where the first difference is. */
bool
DwcEqualConstantTime(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
DwcBase64UrlEncode(const unsigned char *data, size_t len)
{
	StringInfoData out;
	size_t		i;

	initStringInfo(&out);
	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];

		appendStringInfoChar(&out, b64url[(v >> 18) & 63]);
		appendStringInfoChar(&out, b64url[(v >> 12) & 63]);
		appendStringInfoChar(&out, b64url[(v >> 6) & 63]);
		appendStringInfoChar(&out, b64url[v & 63]);
	}
	if (len - i == 1)
	{
		uint32		v = data[i] << 16;

		appendStringInfoChar(&out, b64url[(v >> 18) & 63]);
		appendStringInfoChar(&out, b64url[(v >> 12) & 63]);
	}
	else if (len - i == 2)
	{
		uint32		v = (data[i] << 16) | (data[i + 1] << 8);

		appendStringInfoChar(&out, b64url[(v >> 18) & 63]);
		appendStringInfoChar(&out, b64url[(v >> 12) & 63]);
		appendStringInfoChar(&out, b64url[(v >> 6) & 63]);
	}
	return out.data;
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decode unpadded base64url; NULL if any character is outside the alphabet. */
unsigned char *
DwcBase64UrlDecode(const char *text, size_t len, size_t *outlen)
{
	unsigned char *out = palloc(len * 3 / 4 + 3);
	size_t		n = 0;
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	if (len % 4 == 1)
		return NULL;
	for (i = 0; i < len; i++)
	{
		int			v = b64url_value(text[i]);

		if (v < 0)
			return NULL;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) ((acc >> bits) & 0xFF);
		}
	}
	/* leftover bits must be zero in a canonical encoding */
	if (bits > 0 && (acc & ((1 << bits) - 1)) != 0)
		return NULL;
	*outlen = n;
	return out;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* RFC 4648 base32 without padding (as authenticator apps expect in URIs). */
char *
DwcBase32Encode(const unsigned char *data, size_t len)
{
	StringInfoData out;
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	initStringInfo(&out);
	for (i = 0; i < len; i++)
	{
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5)
		{
			bits -= 5;
			appendStringInfoChar(&out, b32[(acc >> bits) & 31]);
		}
	}
	if (bits > 0)
		appendStringInfoChar(&out, b32[(acc << (5 - bits)) & 31]);
	return out.data;
}

/* Decode base32, ignoring case, spaces and '=' padding; NULL on other characters. */
unsigned char *
DwcBase32Decode(const char *text, size_t *outlen)
{
	size_t		len = strlen(text);
	unsigned char *out = palloc(len * 5 / 8 + 1);
	size_t		n = 0;
	uint32		acc = 0;
	int			bits = 0;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		char		c = text[i];
		int			v;

		if (c == ' ' || c == '=' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return NULL;
		acc = (acc << 5) | v;
		bits += 5;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) ((acc >> bits) & 0xFF);
		}
	}
	*outlen = n;
	return out;
}

char *
DwcHex(const unsigned char *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char	   *out = palloc(len * 2 + 1);
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = hex[data[i] >> 4];
		out[2 * i + 1] = hex[data[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

PG_FUNCTION_INFO_V1(dwc__random_bytes);
PG_FUNCTION_INFO_V1(dwc__base64url);
PG_FUNCTION_INFO_V1(dwc__base32);
PG_FUNCTION_INFO_V1(dwc__base32_decode);

/* dwc._random_bytes(n int) returns bytea: n bytes from OpenSSL's CSPRNG */
Datum
dwc__random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *out;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("between 1 and 1024 random bytes can be asked for, not %d", n)));
	out = palloc(VARHDRSZ + n);
	SET_VARSIZE(out, VARHDRSZ + n);
	DwcRandomBytes(VARDATA(out), n);
	PG_RETURN_BYTEA_P(out);
}

/* dwc._base64url(bytea) returns text, unpadded */
Datum
dwc__base64url(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(DwcBase64UrlEncode((unsigned char *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b))));
}

/* dwc._base32(bytea) returns text, unpadded */
Datum
dwc__base32(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(DwcBase32Encode((unsigned char *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b))));
}

/* dwc._base32_decode(text) returns bytea, NULL when not base32 */
Datum
dwc__base32_decode(PG_FUNCTION_ARGS)
{
	size_t		n;
	unsigned char *raw = DwcBase32Decode(text_to_cstring(PG_GETARG_TEXT_PP(0)), &n);
	bytea	   *out;

	if (raw == NULL)
		PG_RETURN_NULL();
	out = palloc(VARHDRSZ + n);
	SET_VARSIZE(out, VARHDRSZ + n);
	memcpy(VARDATA(out), raw, n);
	PG_RETURN_BYTEA_P(out);
}
