/*-------------------------------------------------------------------------
 *
 * digest.h
 *		Hashes, MACs, random bytes and text encodings for the security
 *		subsystem (OpenSSL libcrypto underneath).
 *
 * src/security/digest.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_DIGEST_H
#define DWC_DIGEST_H

#define DWC_SHA256_LEN 32
#define DWC_SHA1_LEN 20

/* in digest.c */
extern void DwcSha256(const void *data, size_t len, unsigned char *out);
extern void DwcHmacSha256(const void *key, size_t keylen, const void *data, size_t len, unsigned char *out);
extern void DwcHmacSha1(const void *key, size_t keylen, const void *data, size_t len, unsigned char *out);
extern void DwcRandomBytes(void *buf, size_t len);
extern bool DwcEqualConstantTime(const void *a, const void *b, size_t len);
extern char *DwcBase64UrlEncode(const unsigned char *data, size_t len);
extern unsigned char *DwcBase64UrlDecode(const char *text, size_t len, size_t *outlen);
extern char *DwcBase32Encode(const unsigned char *data, size_t len);
extern unsigned char *DwcBase32Decode(const char *text, size_t *outlen);
extern char *DwcHex(const unsigned char *data, size_t len);

#endif							/* DWC_DIGEST_H */
