/*-------------------------------------------------------------------------
 *
 * webpush.c
 *		Web Push: a message encrypted for one browser subscription
 *		(RFC 8291, content coding aes128gcm of RFC 8188) and sent to its push
 *		service with a VAPID signature (RFC 8292), through OpenSSL.
 *
 * The subscription gives the browser's P-256 public key (p256dh) and an
 * authentication secret (auth).  Each message gets a fresh ephemeral key
 * pair and salt; the content key and nonce come from HKDF-SHA256 over the
 * ECDH secret as RFC 8291 section 3.4 lays out.  The VAPID token is an ES256
 * JWT for the push service's origin, signed with the channel's key.
 *
 * OpenSSL objects are freed before any ereport: a longjmp would leak them.
 *
 * src/notify/webpush.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "core/errors.h"
#include "core/http.h"
#include "security/digest.h"

#define P256_POINT 65			/* uncompressed: 0x04 || x || y */
#define RECORD_SIZE 4096
#define MAX_PAYLOAD 3800		/* leaves room in one record for the padding delimiter and tag */

/* base64url (padding tolerated) to exactly want bytes, or NULL */
static unsigned char *
b64url_exact(const char *text, size_t want)
{
	size_t		len = strlen(text);
	size_t		n;
	unsigned char *out;

	while (len > 0 && text[len - 1] == '=')
		len--;
	out = DwcBase64UrlDecode(text, len, &n);
	return out != NULL && n == want ? out : NULL;
}

/* an EC P-256 key from its public point and, when priv is not NULL, its private scalar */
static EVP_PKEY *
p256_key(const unsigned char *pub, const unsigned char *priv)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY   *key = NULL;
	BIGNUM	   *d = priv ? BN_bin2bn(priv, 32, NULL) : NULL;

	if (bld != NULL && (priv == NULL || d != NULL)
		&& OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
		&& OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, P256_POINT)
		&& (d == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
		&& (params = OSSL_PARAM_BLD_to_param(bld)) != NULL
		&& (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL
		&& EVP_PKEY_fromdata_init(ctx) > 0)
	{
		if (EVP_PKEY_fromdata(ctx, &key, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
			key = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return key;
}

static bool
public_point(EVP_PKEY *key, unsigned char *out)
{
	size_t		len = 0;

	return EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out, P256_POINT, &len) && len == P256_POINT;
}

/* HKDF-SHA256 with one output block: HMAC(HMAC(salt, ikm), info || 0x01) */
static void
hkdf(const unsigned char *salt, size_t salt_len, const unsigned char *ikm, size_t ikm_len,
	 const unsigned char *info, size_t info_len, unsigned char *out, size_t out_len)
{
	unsigned char prk[32];
	unsigned char block[32];
	unsigned char *in = palloc(info_len + 1);

	DwcHmacSha256(salt, salt_len, ikm, ikm_len, prk);
	memcpy(in, info, info_len);
	in[info_len] = 0x01;
	DwcHmacSha256(prk, sizeof(prk), in, info_len + 1, block);
	memcpy(out, block, out_len);
	pfree(in);
}

/*
 * The aes128gcm body of payload for the subscription (ua_pub, auth), or NULL
 * with *error set.
 */
static StringInfo
encrypt_payload(const char *payload, size_t len, const unsigned char *ua_pub, const unsigned char *auth,
				const char **error)
{
	EVP_PKEY   *ua = p256_key(ua_pub, NULL);
	EVP_PKEY   *eph = ua ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : NULL;
	EVP_PKEY_CTX *dctx = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	unsigned char as_pub[P256_POINT];
	unsigned char secret[32];
	size_t		secret_len = sizeof(secret);
	unsigned char salt[16];
	unsigned char ikm[32];
	unsigned char cek[16];
	unsigned char nonce[12];
	unsigned char tag[16];
	unsigned char key_info[14 + 2 * P256_POINT];
	unsigned char *plain = NULL;
	unsigned char *cipher = NULL;
	int			outl = 0;
	int			finl = 0;
	bool		ok = false;
	StringInfo	body = NULL;

	*error = NULL;
	if (ua == NULL)
	{
		*error = "the subscription's p256dh is not a P-256 public key";
		return NULL;
	}
	if (eph != NULL && public_point(eph, as_pub)
		&& (dctx = EVP_PKEY_CTX_new(eph, NULL)) != NULL
		&& EVP_PKEY_derive_init(dctx) > 0 && EVP_PKEY_derive_set_peer(dctx, ua) > 0
		&& EVP_PKEY_derive(dctx, secret, &secret_len) > 0 && secret_len == 32)
	{
		/* IKM = HKDF(auth, ecdh secret, "WebPush: info" 0x00 || ua_public || as_public) */
		memcpy(key_info, "WebPush: info", 13);
		key_info[13] = 0;
		memcpy(key_info + 14, ua_pub, P256_POINT);
		memcpy(key_info + 14 + P256_POINT, as_pub, P256_POINT);
		hkdf(auth, 16, secret, 32, key_info, sizeof(key_info), ikm, sizeof(ikm));
		DwcRandomBytes(salt, sizeof(salt));
		hkdf(salt, sizeof(salt), ikm, sizeof(ikm), (const unsigned char *) "Content-Encoding: aes128gcm\0", 28,
			 cek, sizeof(cek));
		hkdf(salt, sizeof(salt), ikm, sizeof(ikm), (const unsigned char *) "Content-Encoding: nonce\0", 24,
			 nonce, sizeof(nonce));

		/* one record: the payload, then the last record's padding delimiter 0x02 */
		plain = palloc(len + 1);
		memcpy(plain, payload, len);
		plain[len] = 0x02;
		cipher = palloc(len + 1 + 16);
		if ((cctx = EVP_CIPHER_CTX_new()) != NULL
			&& EVP_EncryptInit_ex(cctx, EVP_aes_128_gcm(), NULL, NULL, NULL)
			&& EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, sizeof(nonce), NULL)
			&& EVP_EncryptInit_ex(cctx, NULL, NULL, cek, nonce)
			&& EVP_EncryptUpdate(cctx, cipher, &outl, plain, (int) len + 1)
			&& EVP_EncryptFinal_ex(cctx, cipher + outl, &finl)
			&& EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag))
			ok = true;
	}
	EVP_CIPHER_CTX_free(cctx);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(eph);
	EVP_PKEY_free(ua);
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(cek, sizeof(cek));
	if (!ok)
	{
		*error = "could not encrypt the push message";
		return NULL;
	}

	/* header: salt, record size (uint32, network order), key id length, key id (as_public) */
	body = makeStringInfo();
	appendBinaryStringInfo(body, (char *) salt, sizeof(salt));
	appendStringInfoChar(body, (char) ((RECORD_SIZE >> 24) & 0xFF));
	appendStringInfoChar(body, (char) ((RECORD_SIZE >> 16) & 0xFF));
	appendStringInfoChar(body, (char) ((RECORD_SIZE >> 8) & 0xFF));
	appendStringInfoChar(body, (char) (RECORD_SIZE & 0xFF));
	appendStringInfoChar(body, (char) P256_POINT);
	appendBinaryStringInfo(body, (char *) as_pub, P256_POINT);
	appendBinaryStringInfo(body, (char *) cipher, outl + finl);
	appendBinaryStringInfo(body, (char *) tag, sizeof(tag));
	pfree(plain);
	pfree(cipher);
	return body;
}

/* "https://host[:port]" of an endpoint URL */
static char *
origin_of(const char *url)
{
	const char *p = strstr(url, "://");
	const char *end;

	if (p == NULL)
		return NULL;
	end = p + 3 + strcspn(p + 3, "/?#");
	return pnstrdup(url, end - url);
}

/* The VAPID JWT (ES256) for aud, or NULL when the key does not work */
static char *
vapid_token(const char *aud, const char *subject, const unsigned char *pub, const unsigned char *priv)
{
	EVP_PKEY   *key = p256_key(pub, priv);
	EVP_MD_CTX *md = NULL;
	StringInfoData claims;
	StringInfoData input;
	unsigned char der[80];
	size_t		der_len = sizeof(der);
	unsigned char raw[64];
	ECDSA_SIG  *sig = NULL;
	const unsigned char *dp = der;
	const BIGNUM *r;
	const BIGNUM *s;
	bool		ok = false;
	char	   *header = DwcBase64UrlEncode((const unsigned char *) "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", 27);

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"aud\":");
	escape_json(&claims, aud);
	appendStringInfo(&claims, ",\"exp\":%ld,\"sub\":", (long) time(NULL) + 12 * 3600);
	escape_json(&claims, subject);
	appendStringInfoChar(&claims, '}');
	initStringInfo(&input);
	appendStringInfo(&input, "%s.%s", header, DwcBase64UrlEncode((unsigned char *) claims.data, claims.len));

	if (key != NULL && (md = EVP_MD_CTX_new()) != NULL
		&& EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) > 0
		&& EVP_DigestSign(md, der, &der_len, (unsigned char *) input.data, input.len) > 0
		&& (sig = d2i_ECDSA_SIG(NULL, &dp, (long) der_len)) != NULL)
	{
		/* JWS wants r || s, 32 bytes each, not DER */
		ECDSA_SIG_get0(sig, &r, &s);
		ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	}
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	if (!ok)
		return NULL;
	appendStringInfo(&input, ".%s", DwcBase64UrlEncode(raw, sizeof(raw)));
	return input.data;
}

static Datum
result_json(long status, const char *body, const char *error, bool transient)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfo(&out, "{\"status\": %ld", status);
	if (body != NULL)
	{
		appendStringInfoString(&out, ", \"body\": ");
		escape_json(&out, body);
	}
	if (error != NULL)
	{
		appendStringInfoString(&out, ", \"error\": ");
		escape_json(&out, error);
		appendStringInfo(&out, ", \"transient\": %s", transient ? "true" : "false");
	}
	appendStringInfoChar(&out, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

static char *
jsonb_string_at(Jsonb *j, const char *k1, const char *k2)
{
	JsonbValue	key;
	JsonbValue *v;
	JsonbContainer *c = &j->root;

	key.type = jbvString;
	key.val.string.val = (char *) k1;
	key.val.string.len = strlen(k1);
	v = findJsonbValueFromContainer(c, JB_FOBJECT, &key);
	if (v != NULL && k2 != NULL)
	{
		if (v->type != jbvBinary)
			return NULL;
		key.val.string.val = (char *) k2;
		key.val.string.len = strlen(k2);
		v = findJsonbValueFromContainer(v->val.binary.data, JB_FOBJECT, &key);
	}
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

PG_FUNCTION_INFO_V1(dwc__webpush_send);

/*
 * dwc._webpush_send(subscription jsonb, payload text, vapid_public text,
 * vapid_private text, subject text, ttl int4, urgency text, timeout_ms int4)
 * returns jsonb {"status", "body", "error", "transient"}
 */
Datum
dwc__webpush_send(PG_FUNCTION_ARGS)
{
	Jsonb	   *sub;
	text	   *payload;
	char	   *endpoint;
	char	   *p256dh;
	char	   *auth_text;
	unsigned char *ua_pub;
	unsigned char *auth;
	unsigned char *vpub;
	unsigned char *vpriv;
	const char *error;
	StringInfo	body;
	char	   *origin;
	char	   *jwt;
	DwcHttpRequest req;
	DwcHttpResponse resp;
	int			ttl = PG_ARGISNULL(5) ? 86400 : PG_GETARG_INT32(5);
	char	   *urgency = PG_ARGISNULL(6) ? "normal" : text_to_cstring(PG_GETARG_TEXT_PP(6));

	DWC_REQUIRE_ARG(0, "subscription");
	DWC_REQUIRE_ARG(1, "payload");
	DWC_REQUIRE_ARG(2, "vapid_public");
	DWC_REQUIRE_ARG(3, "vapid_private");
	DWC_REQUIRE_ARG(4, "subject");
	sub = PG_GETARG_JSONB_P(0);
	payload = PG_GETARG_TEXT_PP(1);
	if (!JB_ROOT_IS_OBJECT(sub))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a push subscription is a JSON object")));
	endpoint = jsonb_string_at(sub, "endpoint", NULL);
	p256dh = jsonb_string_at(sub, "keys", "p256dh");
	auth_text = jsonb_string_at(sub, "keys", "auth");
	if (endpoint == NULL || p256dh == NULL || auth_text == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a push subscription needs \"endpoint\" and \"keys\": {\"p256dh\", \"auth\"}")));
	if (strcmp(urgency, "very-low") != 0 && strcmp(urgency, "low") != 0 && strcmp(urgency, "normal") != 0
		&& strcmp(urgency, "high") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("urgency must be very-low, low, normal or high")));
	if (ttl < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("ttl must not be negative")));
	if (VARSIZE_ANY_EXHDR(payload) > MAX_PAYLOAD)
		PG_RETURN_DATUM(result_json(0, NULL, psprintf("the push payload is larger than %d bytes", MAX_PAYLOAD), false));

	ua_pub = b64url_exact(p256dh, P256_POINT);
	auth = b64url_exact(auth_text, 16);
	if (ua_pub == NULL || ua_pub[0] != 0x04 || auth == NULL)
		PG_RETURN_DATUM(result_json(0, NULL, "the subscription's keys are not a P-256 point and a 16-byte secret", false));
	vpub = b64url_exact(text_to_cstring(PG_GETARG_TEXT_PP(2)), P256_POINT);
	vpriv = b64url_exact(text_to_cstring(PG_GETARG_TEXT_PP(3)), 32);
	if (vpub == NULL || vpriv == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the VAPID keys are not a base64url P-256 public key and private key"),
						errhint("dwc.generate_vapid_keys() makes a pair.")));

	body = encrypt_payload(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload), ua_pub, auth, &error);
	if (body == NULL)
		PG_RETURN_DATUM(result_json(0, NULL, error, false));
	origin = origin_of(endpoint);
	jwt = origin ? vapid_token(origin, text_to_cstring(PG_GETARG_TEXT_PP(4)), vpub, vpriv) : NULL;
	explicit_bzero(vpriv, 32);
	if (jwt == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("could not sign the VAPID token"),
						errdetail("The endpoint must be an absolute URL, and the VAPID keys a pair.")));

	DwcHttpInitRequest(&req, "POST", endpoint);
	DwcHttpAddHeader(&req, "Content-Type", "application/octet-stream");
	DwcHttpAddHeader(&req, "Content-Encoding", "aes128gcm");
	DwcHttpAddHeader(&req, "TTL", psprintf("%d", ttl));
	DwcHttpAddHeader(&req, "Urgency", urgency);
	DwcHttpAddHeader(&req, "Authorization",
					 psprintf("vapid t=%s, k=%s", jwt, DwcBase64UrlEncode(vpub, P256_POINT)));
	req.body = body->data;
	req.body_len = body->len;
	req.timeout_ms = PG_ARGISNULL(7) ? 0 : PG_GETARG_INT32(7);
	DwcHttpPerform(&req, &resp);
	if (resp.outcome != DWC_HTTP_OK)
		PG_RETURN_DATUM(result_json(0, NULL, DwcHttpDescribeFailure(&req, &resp),
									DwcHttpOutcomeIsTransient(resp.outcome)));
	PG_RETURN_DATUM(result_json(resp.status, pnstrdup(resp.body, Min(resp.body_len, 2000)), NULL, false));
}

PG_FUNCTION_INFO_V1(dwc_generate_vapid_keys);

/* dwc.generate_vapid_keys() returns jsonb {"public_key", "private_key"} */
Datum
dwc_generate_vapid_keys(PG_FUNCTION_ARGS)
{
	EVP_PKEY   *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIGNUM	   *d = NULL;
	unsigned char pub[P256_POINT];
	unsigned char priv[32];
	bool		ok;
	StringInfoData out;

	ok = key != NULL && public_point(key, pub)
		&& EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) && BN_bn2binpad(d, priv, 32) == 32;
	BN_clear_free(d);
	EVP_PKEY_free(key);
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a P-256 key pair")));
	initStringInfo(&out);
	appendStringInfo(&out, "{\"public_key\": \"%s\", \"private_key\": \"%s\"}",
					 DwcBase64UrlEncode(pub, sizeof(pub)), DwcBase64UrlEncode(priv, sizeof(priv)));
	explicit_bzero(priv, sizeof(priv));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
