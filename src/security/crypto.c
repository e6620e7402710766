/*-------------------------------------------------------------------------
 *
 * crypto.c
 *		Encryption of secrets at rest: AES-256-GCM with rotatable keys.
 *
 * Keys come from dwc.encryption_keys (superuser-only, hidden from SHOW ALL)
 * or from the file named by dwc.encryption_key_file, as a comma- or
 * newline-separated list of "key_id:base64(32 bytes)".  The first key
 * encrypts; every listed key can decrypt, so a key is rotated by putting a
 * new one first and re-encrypting (docs/configuration.md, "Secrets").
 *
 * Ciphertext layout (bytea):
 *   "DWE1" | key id length (1 byte) | key id | nonce (12 bytes)
 *   | ciphertext | GCM tag (16 bytes)
 * The key id and the header are authenticated as additional data, so a
 * ciphertext cannot be moved to another key id undetected.
 *
 * src/security/crypto.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/base64.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "security/crypto.h"

#define MAGIC "DWE1"
#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32
#define MAX_KEY_ID 32

static char *dwc_encryption_keys = NULL;
static char *dwc_encryption_key_file = NULL;

typedef struct Key
{
	char		id[MAX_KEY_ID + 1];
	unsigned char key[KEY_LEN];
} Key;

/* Parse "id:base64,id:base64..." into keys; returns how many, or -1 with a reason. */
static int
parse_keys(const char *spec, Key *keys, int max, const char **why)
{
	char	   *copy = pstrdup(spec);
	char	   *tok;
	char	   *save = NULL;
	int			n = 0;

	for (tok = strtok_r(copy, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save))
	{
		char	   *colon;
		int			idlen;
		int			dlen;
		unsigned char buf[KEY_LEN + 8];

		while (*tok == ' ' || *tok == '\t' || *tok == '\r')
			tok++;
		if (*tok == '\0' || *tok == '#')
			continue;
		colon = strchr(tok, ':');
		if (colon == NULL)
		{
			*why = "Each key must be written as key_id:base64.";
			return -1;
		}
		idlen = colon - tok;
		if (idlen < 1 || idlen > MAX_KEY_ID)
		{
			*why = "Key ids have 1 to 32 characters.";
			return -1;
		}
		while (strlen(colon + 1) > 0 && strchr(" \t\r", colon[strlen(colon) - 1]))
			colon[strlen(colon) - 1] = '\0';
		if (pg_b64_dec_len(strlen(colon + 1)) > (int) sizeof(buf))
		{
			*why = "Keys are 32 bytes (44 characters of base64).";
			return -1;
		}
		dlen = pg_b64_decode(colon + 1, strlen(colon + 1), (char *) buf, sizeof(buf));
		if (dlen != KEY_LEN)
		{
			explicit_bzero(buf, sizeof(buf));
			explicit_bzero(copy, strlen(spec));
			*why = "Keys are 32 bytes (44 characters of base64).";
			return -1;
		}
		if (n == max)
		{
			*why = "Too many keys.";
			return -1;
		}
		memcpy(keys[n].id, tok, idlen);
		keys[n].id[idlen] = '\0';
		memcpy(keys[n].key, buf, KEY_LEN);
		n++;
		explicit_bzero(buf, sizeof(buf));
	}
	explicit_bzero(copy, strlen(spec));
	pfree(copy);
	return n;
}

static bool
check_keys(char **newval, void **extra, GucSource source)
{
	Key			keys[16];
	const char *why = NULL;

	if (*newval == NULL || **newval == '\0')
		return true;
	if (parse_keys(*newval, keys, lengthof(keys), &why) < 0)
	{
		GUC_check_errdetail("%s", why);
		return false;
	}
	explicit_bzero(keys, sizeof(keys));
	return true;
}

void
DwcDefineCryptoGucs(void)
{
	DefineCustomStringVariable("dwc.encryption_keys",
							   "Keys that encrypt secrets at rest (key_id:base64, first encrypts).",
							   NULL,
							   &dwc_encryption_keys,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_keys, NULL, NULL);
	DefineCustomStringVariable("dwc.encryption_key_file",
							   "File of keys that encrypt secrets at rest, one key_id:base64 per line.",
							   NULL,
							   &dwc_encryption_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/* The configured keys (the setting, or else the file); errors if there are none. */
static int
load_keys(Key *keys, int max)
{
	const char *why = "No key is configured.";
	int			n = -1;

	if (dwc_encryption_keys && dwc_encryption_keys[0])
		n = parse_keys(dwc_encryption_keys, keys, max, &why);
	else if (dwc_encryption_key_file && dwc_encryption_key_file[0])
	{
		FILE	   *f = AllocateFile(dwc_encryption_key_file, "r");
		char		buf[8192];
		size_t		len;

		if (f == NULL)
		{
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open dwc.encryption_key_file \"%s\": %m", dwc_encryption_key_file)));
			pg_unreachable();
		}
		len = fread(buf, 1, sizeof(buf) - 1, f);
		FreeFile(f);
		buf[len] = '\0';
		n = parse_keys(buf, keys, max, &why);
		explicit_bzero(buf, sizeof(buf));
	}
	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no encryption key is available"),
				 errdetail("%s", n < 0 ? why : "dwc.encryption_keys and dwc.encryption_key_file are empty."),
				 errhint("Set dwc.encryption_keys (superuser only) to key_id:base64 with a 32-byte key, "
						 "e.g. from: openssl rand -base64 32.")));
	return n;
}

static void
openssl_error(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("%s failed in OpenSSL", what)));
}

/* Encrypt with the first configured key. */
bytea *
DwcEncrypt(const char *plaintext, int len)
{
	Key			keys[16];
	int			idlen;
	int			hdr;
	bytea	   *out;
	unsigned char *p;
	EVP_CIPHER_CTX *ctx;
	int			outl = 0;
	int			finl = 0;
	bool		ok;

	load_keys(keys, lengthof(keys));
	idlen = strlen(keys[0].id);
	hdr = 4 + 1 + idlen + NONCE_LEN;
	out = palloc(VARHDRSZ + hdr + len + TAG_LEN);
	SET_VARSIZE(out, VARHDRSZ + hdr + len + TAG_LEN);
	p = (unsigned char *) VARDATA(out);
	memcpy(p, MAGIC, 4);
	p[4] = (unsigned char) idlen;
	memcpy(p + 5, keys[0].id, idlen);
	if (RAND_bytes(p + 5 + idlen, NONCE_LEN) != 1)
		openssl_error("generating a nonce");

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		openssl_error("creating a cipher context");
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_EncryptInit_ex(ctx, NULL, NULL, keys[0].key, p + 5 + idlen) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &outl, p, hdr) == 1 &&	/* header as AAD */
		EVP_EncryptUpdate(ctx, p + hdr, &outl, (const unsigned char *) plaintext, len) == 1 &&
		EVP_EncryptFinal_ex(ctx, p + hdr + outl, &finl) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, p + hdr + len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(keys, sizeof(keys));
	if (!ok)
		openssl_error("encryption");
	return out;
}

/* Decrypt with the key named in the ciphertext; NUL-terminated result. */
char *
DwcDecrypt(bytea *ciphertext, int *len)
{
	Key			keys[16];
	int			nkeys;
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(ciphertext);
	int			total = VARSIZE_ANY_EXHDR(ciphertext);
	int			idlen;
	int			hdr;
	int			ctlen;
	const Key  *key = NULL;
	char	   *out;
	EVP_CIPHER_CTX *ctx;
	int			outl = 0;
	int			finl = 0;
	bool		ok;
	int			i;

	if (total < 5 || memcmp(p, MAGIC, 4) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("value is not a dwc ciphertext")));
	idlen = p[4];
	hdr = 4 + 1 + idlen + NONCE_LEN;
	if (idlen < 1 || idlen > MAX_KEY_ID || total < hdr + TAG_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("dwc ciphertext is truncated or malformed")));
	ctlen = total - hdr - TAG_LEN;

	nkeys = load_keys(keys, lengthof(keys));
	for (i = 0; i < nkeys; i++)
	{
		if ((int) strlen(keys[i].id) == idlen && memcmp(keys[i].id, p + 5, idlen) == 0)
			key = &keys[i];
	}
	if (key == NULL)
	{
		char		id[MAX_KEY_ID + 1];

		memcpy(id, p + 5, idlen);
		id[idlen] = '\0';
		explicit_bzero(keys, sizeof(keys));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("encryption key \"%s\" is not configured", id),
				 errhint("Keep retired keys in dwc.encryption_keys until every value they encrypted is re-encrypted.")));
	}

	out = palloc(ctlen + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		openssl_error("creating a cipher context");
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
		EVP_DecryptInit_ex(ctx, NULL, NULL, key->key, p + 5 + idlen) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &outl, p, hdr) == 1 &&
		EVP_DecryptUpdate(ctx, (unsigned char *) out, &outl, p + hdr, ctlen) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *) (p + hdr + ctlen)) == 1 &&
		EVP_DecryptFinal_ex(ctx, (unsigned char *) out + outl, &finl) == 1;
	EVP_CIPHER_CTX_free(ctx);
	explicit_bzero(keys, sizeof(keys));
	if (!ok)
	{
		explicit_bzero(out, ctlen + 1);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("dwc ciphertext failed authentication"),
				 errdetail("It was altered, or encrypted with another key of the same id.")));
	}
	out[ctlen] = '\0';
	if (len)
		*len = ctlen;
	return out;
}

PG_FUNCTION_INFO_V1(dwc_encrypt);
PG_FUNCTION_INFO_V1(dwc_decrypt);

Datum
dwc_encrypt(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BYTEA_P(DwcEncrypt(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

Datum
dwc_decrypt(PG_FUNCTION_ARGS)
{
	int			len;
	char	   *s = DwcDecrypt(PG_GETARG_BYTEA_PP(0), &len);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s, len));
}
