/*-------------------------------------------------------------------------
 *
 * password.c
 *		Password hashing (Argon2id, libargon2) and the password policy.
 *
 * Hashes are PHC strings ("$argon2id$v=19$m=...,t=...,p=1$salt$hash"), so
 * the parameters travel with each hash and can be raised later without
 * breaking existing ones (dwc.password_needs_rehash tells when).  One lane:
 * more would make libargon2 start threads inside a backend.  Defaults
 * follow OWASP's recommendation for Argon2id: 19 MiB, 2 passes.
 *
 * The policy: at least dwc.password_min_length characters, at least
 * dwc.password_min_classes of the four classes (lower case, upper case,
 * digits, others), not one of a list of very common passwords (compared
 * ignoring case), and not containing the username.
 *
 * src/security/password.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <argon2.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"

#include "core/errors.h"
#include "security/digest.h"
#include "security/password.h"

int			dwc_argon2_memory_kb = 19456;
int			dwc_argon2_iterations = 2;
int			dwc_password_min_length = 12;
int			dwc_password_min_classes = 3;
static bool dwc_password_policy = true;
static int	dwc_login_max_failures = 5;
static int	dwc_login_failure_window_s = 900;
static int	dwc_login_lockout_s = 900;
static bool dwc_allow_registration = true;

#define SALT_LEN 16
#define HASH_LEN 32

/* lower case, sorted: looked up by binary search */
static const char *const common_passwords[] = {
	"000000", "00000000", "111111", "11111111", "112233", "121212", "123123", "123321", "1234",
	"12341234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
	"123456789a", "123456a", "123abc", "123qwe", "1q2w3e", "1q2w3e4r", "1qaz2wsx",
	"1qaz2wsx3edc", "1qazxsw2", "27653", "555555", "654321", "666666", "696969", "7777777",
	"888888", "987654321", "a123456", "aa123456", "abc123", "abcd1234", "abcdef", "abcdefg",
	"access", "admin", "admin123", "administrator", "asdf", "asdfasdf", "asdfgh", "asdfghjkl",
	"autumn", "baseball", "batman", "changeme", "changeme123", "charlie", "computer",
	"correcthorsebatterystaple", "database", "default", "dragon", "flower", "football",
	"freedom", "guest", "hello", "hello123", "hunter", "hunter2", "iloveyou", "iloveyou1",
	"jennifer", "jordan", "killer", "letmein", "letmein123", "letmeinnow", "login", "master",
	"michael", "monkey", "mustang", "p@ssw0rd", "p@ssword", "pass", "passw0rd", "password",
	"password1", "password12", "password123", "password1234", "postgres", "postgresql",
	"princess", "princess1", "q1w2e3r4", "q1w2e3r4t5", "qazwsx", "qwe123", "qwer1234",
	"qwerty", "qwerty1", "qwerty123", "qwertyuiop", "robert", "root", "secret", "secret123",
	"shadow", "soccer", "spring", "starwars", "summer", "sunshine", "superman", "test",
	"test123", "testing", "thomas", "toor", "trustno1", "welcome", "welcome1", "whatever",
	"winter", "zaq12wsx", "zxcvbn", "zxcvbnm"
};

void
DwcDefinePasswordGucs(void)
{
	DefineCustomIntVariable("dwc.argon2_memory",
							"Memory of each Argon2id password hash.",
							"Raising it makes new hashes stronger and slower; old hashes keep their own.",
							&dwc_argon2_memory_kb, 19456, 8, 4 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.argon2_iterations",
							"Passes of each Argon2id password hash.",
							NULL, &dwc_argon2_iterations, 2, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.password_min_length",
							"Fewest characters of a new password.",
							NULL, &dwc_password_min_length, 12, 8, 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.password_min_classes",
							"Fewest character classes (lower, upper, digit, other) of a new password.",
							NULL, &dwc_password_min_classes, 3, 1, 4,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("dwc.password_policy",
							 "Whether new passwords must pass the password policy.",
							 "Off accepts any non-empty password: for a throwaway server on which to try "
							 "examples with weak passwords, never for one that holds real accounts.",
							 &dwc_password_policy, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.login_max_failures",
							"Failed logins within dwc.login_failure_window that lock an account.",
							NULL, &dwc_login_max_failures, 5, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.login_failure_window",
							"Window in which failed logins are counted.",
							NULL, &dwc_login_failure_window_s, 900, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.login_lockout",
							"How long an account stays locked after too many failed logins.",
							NULL, &dwc_login_lockout_s, 900, 1, 7 * 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("dwc.allow_registration",
							 "Whether anyone may register an account (api.register).",
							 "Off: only administrators create users.",
							 &dwc_allow_registration, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
}

static void
argon2_failed(int rc)
{
	ereport(ERROR,
			(errcode(rc == ARGON2_MEMORY_ALLOCATION_ERROR ? ERRCODE_OUT_OF_MEMORY : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("password hashing failed: %s", argon2_error_message(rc))));
}

/* A PHC string of password under the configured parameters and a random salt. */
char *
DwcPasswordHash(const char *password, size_t len)
{
	unsigned char salt[SALT_LEN];
	size_t		enclen;
	char	   *encoded;
	int			rc;

	if (len > 4096)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is too long"),
				 errdetail("Passwords have at most 4096 bytes.")));
	DwcRandomBytes(salt, sizeof(salt));
	enclen = argon2_encodedlen(dwc_argon2_iterations, dwc_argon2_memory_kb, 1, SALT_LEN, HASH_LEN, Argon2_id);
	encoded = palloc(enclen);
	rc = argon2id_hash_encoded(dwc_argon2_iterations, dwc_argon2_memory_kb, 1, password, len,
							   salt, SALT_LEN, HASH_LEN, encoded, enclen);
	if (rc != ARGON2_OK)
		argon2_failed(rc);
	return encoded;
}

/* Does password match the PHC string?  Malformed strings do not match. */
bool
DwcPasswordVerify(const char *password, size_t len, const char *encoded)
{
	argon2_type type;
	int			rc;

	if (strncmp(encoded, "$argon2id$", 10) == 0)
		type = Argon2_id;
	else if (strncmp(encoded, "$argon2i$", 9) == 0)
		type = Argon2_i;
	else if (strncmp(encoded, "$argon2d$", 9) == 0)
		type = Argon2_d;
	else
		return false;
	if (len > 4096)
		return false;
	rc = argon2_verify(encoded, password, len, type);
	if (rc == ARGON2_OK)
		return true;
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		argon2_failed(rc);
	return false;
}

/* Is a hash weaker than the current parameters (or not Argon2id)? */
bool
DwcPasswordNeedsRehash(const char *encoded)
{
	int			m = 0;
	int			t = 0;

	if (strncmp(encoded, "$argon2id$v=19$", 15) != 0 ||
		sscanf(encoded + 15, "m=%d,t=%d", &m, &t) != 2)
		return true;
	return m < dwc_argon2_memory_kb || t < dwc_argon2_iterations;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool
in_common_list(const char *word)
{
	return bsearch(&word, common_passwords, lengthof(common_passwords), sizeof(char *), cmp_str) != NULL;
}

/*
 * Is a lower-cased password one of the list, also once spaces are removed
 * ("correct horse battery staple") or once the digits and symbols people
 * put around a common word are ("Qwerty123456", "!Summer2026")?  Those are
 * the first guesses of every cracking rule set.
 */
bool
DwcIsCommonPassword(const char *lower)
{
	size_t		len = strlen(lower);
	char	   *word = palloc(len + 1);
	char	   *w = word;
	const char *start;
	const char *end;
	bool		found;

	if (in_common_list(lower))
		return true;
	for (start = lower; *start; start++)
	{
		if (*start != ' ')
			*w++ = *start;
	}
	*w = '\0';
	found = in_common_list(word);

	start = lower;
	end = lower + len;
	while (start < end && !(*start >= 'a' && *start <= 'z'))
		start++;
	while (end > start && !(end[-1] >= 'a' && end[-1] <= 'z'))
		end--;
	if (!found && end - start >= 4 && (start != lower || end != lower + len))
	{
		memcpy(word, start, end - start);
		word[end - start] = '\0';
		found = in_common_list(word);
	}
	pfree(word);
	return found;
}

/* For the tests: is the list sorted (binary search depends on it)? */
bool
DwcCommonPasswordsSorted(void)
{
	int			i;

	for (i = 1; i < (int) lengthof(common_passwords); i++)
	{
		if (strcmp(common_passwords[i - 1], common_passwords[i]) >= 0)
			return false;
	}
	return true;
}

/*
 * What is wrong with a new password, as sentences for people; empty if
 * nothing.  Lengths are counted in characters, not bytes.
 */
List *
DwcPasswordProblems(const char *password, const char *username)
{
	List	   *problems = NIL;
	int			nchars = pg_mbstrlen(password);
	bool		lower = false,
				upper = false,
				digit = false,
				other = false;
	int			classes;
	char	   *lc = str_tolower(password, strlen(password), DEFAULT_COLLATION_OID);
	const char *p;

	for (p = password; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 'a' && c <= 'z')
			lower = true;
		else if (c >= 'A' && c <= 'Z')
			upper = true;
		else if (c >= '0' && c <= '9')
			digit = true;
		else
			other = true;
	}
	classes = lower + upper + digit + other;
	/* an administrator's choice for a throwaway server (docs/security.md) */
	if (!dwc_password_policy)
		return nchars > 0 ? NIL : list_make1(pstrdup("It is empty."));
	if (nchars < dwc_password_min_length)
		problems = lappend(problems, psprintf("It has %d characters; at least %d are needed.",
											  nchars, dwc_password_min_length));
	if (classes < dwc_password_min_classes)
		problems = lappend(problems, psprintf("It uses %d of the 4 kinds of characters (lower case, upper "
											  "case, digits, others); at least %d are needed.",
											  classes, dwc_password_min_classes));
	if (DwcIsCommonPassword(lc))
		problems = lappend(problems, pstrdup("It is, or is built on, one of the most common passwords."));
	if (username != NULL && strlen(username) >= 3)
	{
		char	   *lu = str_tolower(username, strlen(username), DEFAULT_COLLATION_OID);

		if (strstr(lc, lu) != NULL)
			problems = lappend(problems, pstrdup("It contains the username."));
	}
	return problems;
}

PG_FUNCTION_INFO_V1(dwc_password_hash);
PG_FUNCTION_INFO_V1(dwc_password_verify);
PG_FUNCTION_INFO_V1(dwc_password_needs_rehash);
PG_FUNCTION_INFO_V1(dwc_password_problems);
PG_FUNCTION_INFO_V1(dwc__common_passwords_sorted);

Datum
dwc_password_hash(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(DwcPasswordHash(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw))));
}

Datum
dwc_password_verify(PG_FUNCTION_ARGS)
{
	text	   *pw = PG_GETARG_TEXT_PP(0);
	char	   *encoded = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(DwcPasswordVerify(VARDATA_ANY(pw), VARSIZE_ANY_EXHDR(pw), encoded));
}

Datum
dwc_password_needs_rehash(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DwcPasswordNeedsRehash(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/* dwc.password_problems(password, username) returns text[] (empty: acceptable) */
Datum
dwc_password_problems(PG_FUNCTION_ARGS)
{
	char	   *pw;
	List	   *problems;
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;

	DWC_REQUIRE_ARG(0, "password");
	pw = text_to_cstring(PG_GETARG_TEXT_PP(0));
	problems = DwcPasswordProblems(pw, DWC_TEXT_ARG_OR_NULL(1));
	elems = palloc(sizeof(Datum) * (list_length(problems) + 1));
	foreach(lc, problems)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

Datum
dwc__common_passwords_sorted(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DwcCommonPasswordsSorted());
}
