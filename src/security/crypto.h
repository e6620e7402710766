/*-------------------------------------------------------------------------
 *
 * crypto.h
 *		Encryption of secrets at rest (AES-256-GCM, OpenSSL).
 *
 * src/security/crypto.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CRYPTO_H
#define DWC_CRYPTO_H

/* in crypto.c */
extern bytea *DwcEncrypt(const char *plaintext, int len);
extern char *DwcDecrypt(bytea *ciphertext, int *len);
extern void DwcDefineCryptoGucs(void);

#endif							/* DWC_CRYPTO_H */
