-- Security primitives against published vectors; everything that needs a server-wide secret
-- or PostgREST's request context is in test/integration/test_security.py.
SET client_min_messages = warning;

-- RFC 6238 appendix B, SHA-1, 8 digits, 30-second steps
SELECT t AS unix_time,
       dwc.totp_code('12345678901234567890'::bytea, to_timestamp(t), 8, 30) AS totp
  FROM unnest(ARRAY[59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000]) AS t;
-- 6 digits is the last 6 of the same code
SELECT dwc.totp_code('12345678901234567890'::bytea, to_timestamp(59)) AS six_digits;
SELECT dwc.totp_code('12345678901234567890'::bytea, to_timestamp(59), 5);
SELECT dwc.totp_code('12345678901234567890'::bytea, to_timestamp(59), 6, 0);
SELECT dwc.totp_code(''::bytea, to_timestamp(59));
-- the window: the step before and after match, two steps away does not; replay refused
SELECT dwc._totp_match('12345678901234567890'::bytea, dwc.totp_code('12345678901234567890'::bytea, to_timestamp(1200)),
                       to_timestamp(1200 + d), 0) - 40 AS step_offset
  FROM unnest(ARRAY[-30, 0, 30, 60]) AS d;
SELECT dwc._totp_match('12345678901234567890'::bytea, dwc.totp_code('12345678901234567890'::bytea, to_timestamp(1200)),
                       to_timestamp(1200), 40) AS replay;
SELECT dwc._totp_match('12345678901234567890'::bytea, '12345', to_timestamp(1200), 0) AS short_code;

-- Argon2id: a hash made by the reference implementation (argon2 CLI: password "password",
-- salt "somesalt", t=2, m=64 MiB, p=1) verifies; anything else does not
SELECT dwc.password_verify('password',
  '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc') AS known_hash;
SELECT dwc.password_verify('Password',
  '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc') AS wrong_password;
SELECT dwc.password_verify('password',
  '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPd') AS altered_hash;
SELECT dwc.password_verify('password', 'not a hash') AS garbage;
SELECT dwc.password_verify('password', '$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc') AS other_variant;
-- new hashes: PHC strings with the configured parameters, a fresh salt each time
SELECT h ~ '^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$' AS phc_format,
       dwc.password_verify('Tide-Pool-42!x', h) AS verifies,
       dwc.password_needs_rehash(h) AS needs_rehash
  FROM (SELECT dwc.password_hash('Tide-Pool-42!x') AS h) s;
SELECT dwc.password_hash('Tide-Pool-42!x') = dwc.password_hash('Tide-Pool-42!x') AS same_salt_twice;
SELECT dwc.password_needs_rehash(
  '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc') AS weaker_or_other_params;

-- password policy: each problem named
SELECT pw, dwc.password_problems(pw, 'marina') AS problems
  FROM unnest(ARRAY['short1!', 'alllowercaseletters', 'password123', 'Marina-2026-tides',
                    'Tide-Pool-42!x', 'correct horse battery staple', 'Tr0ub4dor&3', 'Qwerty123456',
                    '!!Summer2026##', 'Summertime-2026', 'ÁrbolÑandú-9']) AS pw;
SELECT dwc._common_passwords_sorted() AS common_list_sorted;

-- encodings of the tokens: base64url without padding (RFC 4648 section 5), base32 (section 6)
SELECT dwc._base64url(convert_to(s, 'UTF8')) AS b64url
  FROM unnest(ARRAY['', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar']) AS s;
SELECT dwc._base64url('\xfbff'::bytea) AS url_alphabet;
SELECT dwc._base32(convert_to(s, 'UTF8')) AS b32
  FROM unnest(ARRAY['', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar']) AS s;
SELECT convert_from(dwc._base32_decode('MZXW6YTBOI'), 'UTF8') AS decoded,
       convert_from(dwc._base32_decode('mzxw 6ytb oi======'), 'UTF8') AS lenient;
SELECT dwc._base32_decode('MZXW1') IS NULL AS not_base32;
SELECT length(dwc._random_bytes(32)) AS n, dwc._random_bytes(16) <> dwc._random_bytes(16) AS differ;
SELECT dwc._random_bytes(0);

-- tokens with the test cluster's secret: round trip, then each way to be invalid
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "sub": "x", "aud": "dwc", "exp": 4102444800}'))
       - 'exp' AS claims;
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": "dwc", "exp": 1000}'), at => to_timestamp(1100));
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": "dwc", "nbf": 4102444800}'));
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": "other"}'));
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": "other"}'), '') ->> 'aud' AS unchecked;
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": ["x", "dwc"]}')) ->> 'role' AS aud_array;
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": "dwc", "exp": 1000}'), at => to_timestamp(990)) ->> 'role'
       AS before_expiry;
SELECT dwc.jwt_verify(dwc.jwt_sign('{"role": "dwc_user", "aud": "dwc", "exp": 1000}'), at => to_timestamp(1020)) ->> 'role'
       AS within_skew;
SELECT dwc.jwt_verify(left(t, -2) || CASE WHEN right(t, 2) = 'AA' THEN 'AB' ELSE 'AA' END)
  FROM (SELECT dwc.jwt_sign('{"role": "dwc_user", "aud": "dwc"}') AS t) s;
SELECT dwc.jwt_verify(split_part(t, '.', 1) || '.' || dwc._base64url('{"role":"dwc_admin","aud":"dwc"}') || '.' || split_part(t, '.', 3))
  FROM (SELECT dwc.jwt_sign('{"role": "dwc_user", "aud": "dwc"}') AS t) s;
SELECT dwc.jwt_verify('eyJhbGciOiJub25lIn0.eyJyb2xlIjoiZHdjX2FkbWluIn0.');
SELECT dwc.jwt_verify('a.b');
SELECT dwc.jwt_verify(NULL);

-- audit digests: every column counts, NULL differs from empty text, and the value is pinned
-- (a change of the encoding would break every chain already sealed)
WITH base AS (
    SELECT jsonb_populate_record(NULL::dwc.audit_log, '{"id": 7, "at": "2026-01-02 03:04:05.678901+00",
        "txid": 900, "actor_user": "u1", "actor_role": "dwc_user", "action": "UPDATE", "table_name": "public.t",
        "row_key": {"id": 1}, "old_values": {"a": 1}, "new_values": {"a": 2}, "client_addr": "192.0.2.1",
        "request_path": "/rpc/x"}') AS r),
changed AS (
    SELECT jsonb_populate_record(base.r, jsonb_build_object(c.k, c.v)) AS r
      FROM base, (VALUES ('id', '8'::jsonb), ('at', '"2026-01-02 03:04:05.678902+00"'), ('txid', '901'),
                         ('actor_user', '"u2"'), ('actor_user', 'null'), ('actor_user', '""'),
                         ('actor_role', '"dwc_admin"'), ('action', '"DELETE"'), ('table_name', '"public.u"'),
                         ('row_key', '{"id": 2}'), ('old_values', '{"a": 3}'), ('new_values', '{"a": 2, "b": null}'),
                         ('client_addr', '"192.0.2.2"'), ('request_path', '"/rpc/y"')) AS c(k, v))
SELECT (SELECT encode(dwc._audit_digest(r), 'hex') FROM base) AS digest,
       count(DISTINCT dwc._audit_digest(changed.r)) AS distinct_digests_of_14_changes,
       bool_or(dwc._audit_digest(changed.r) = (SELECT dwc._audit_digest(r) FROM base)) AS any_equals_base
  FROM changed;
SET TimeZone = 'Asia/Tokyo';
SELECT encode(dwc._audit_digest(jsonb_populate_record(NULL::dwc.audit_log, '{"id": 7,
        "at": "2026-01-02 03:04:05.678901+00", "txid": 900, "actor_role": "x", "action": "INSERT",
        "table_name": "t"}')), 'hex') = encode(dwc._audit_digest(jsonb_populate_record(NULL::dwc.audit_log,
        '{"id": 7, "at": "2026-01-02 12:04:05.678901+09", "txid": 900, "actor_role": "x", "action": "INSERT",
        "table_name": "t"}')), 'hex') AS same_instant_same_digest;
RESET TimeZone;
