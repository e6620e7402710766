-- src/security/crypto.sql: encryption of secrets at rest (AES-256-GCM).

-- API: Public (administrators)

CREATE FUNCTION dwc.encrypt(plaintext pg_catalog.text) RETURNS pg_catalog.bytea
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_encrypt';
COMMENT ON FUNCTION dwc.encrypt(pg_catalog.text) IS
  'Encrypts with AES-256-GCM under the first key of dwc.encryption_keys (or dwc.encryption_key_file); '
  'the key id travels in the ciphertext so keys can be rotated. Administrators only.';
REVOKE ALL ON FUNCTION dwc.encrypt(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.decrypt(ciphertext pg_catalog.bytea) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_decrypt';
COMMENT ON FUNCTION dwc.decrypt(pg_catalog.bytea) IS
  'Decrypts a value made by dwc.encrypt() with the key it names; a changed value fails authentication. Administrators only.';
REVOKE ALL ON FUNCTION dwc.decrypt(pg_catalog.bytea) FROM PUBLIC;
