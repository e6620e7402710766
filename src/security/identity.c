/*-------------------------------------------------------------------------
 *
 * identity.c
 *		Who the current request acts for: the one reader of the caller's role
 *		and dwc user id (the "subject").
 *
 * GUCs such as request.jwt.claims are settable by any SQL a user can run
 * (their own session, a job body, a schedule), so dwc never takes an
 * identity from them.  The subject comes only from something the caller
 * cannot forge, in this order:
 *
 *	1. a job being run by a dwc worker: the role, subject and API-key scopes
 *	   recorded at enqueue, pinned by the worker (DwcIdentityPin) for the
 *	   job's duration; nothing the job body does changes them;
 *	2. an anonymous request whose API key dwc.pre_request() looked up: the
 *	   key user, recorded in backend memory by dwc._set_api_key_identity(),
 *	   which only dwc's own SECURITY DEFINER code may call;
 *	3. the bearer token of the request (request.headers -> authorization, as
 *	   PostgREST passes it): dwc verifies its HS256 signature, expiry and
 *	   audience itself, and accepts its sub only when its role claim names
 *	   the role the session switched to (the outer role, which SECURITY
 *	   DEFINER does not change).  A forged header cannot carry a valid
 *	   signature; a real token grants nothing its holder did not have.
 *
 * Each is captured once per transaction (PostgREST runs one request per
 * transaction) and dropped at its end.
 *
 * src/security/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/errors.h"
#include "core/jsonc.h"
#include "security/identity.h"
#include "security/jwt.h"

/* the identity of the job a worker is running (1. above) */
static bool pinned = false;
static Oid	pinned_role = InvalidOid;
static char *pinned_subject = NULL;
static bool pinned_scoped = false;	/* enqueued through an API key */
static List *pinned_scopes = NIL;	/* its scopes, char * in TopMemoryContext */

/*
 * This transaction's capture (2. and 3. above), in TopTransactionContext;
 * NULL until first needed.
 */
typedef struct RequestIdentity
{
	Oid			outer;			/* the outer role when captured */
	bool		token_read;		/* the bearer token has been looked at */
	char	   *token_subject;	/* its verified sub, or NULL */
	bool		api_key;		/* pre_request authenticated an API key */
	Oid			key_role;
	char	   *key_subject;
	List	   *key_scopes;		/* of char * */
} RequestIdentity;

static RequestIdentity *current = NULL;
static bool callback_registered = false;

static void
identity_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			current = NULL;		/* its memory goes with TopTransactionContext */
			break;
		default:
			break;
	}
}

/* This transaction's capture for the current outer role, created empty. */
static RequestIdentity *
request_identity(void)
{
	Oid			outer = GetOuterUserId();

	if (!callback_registered)
	{
		RegisterXactCallback(identity_xact_callback, NULL);
		callback_registered = true;
	}
	/* a new role inside the transaction (SET LOCAL ROLE again) starts over */
	if (current == NULL || current->outer != outer)
	{
		current = MemoryContextAllocZero(TopTransactionContext, sizeof(RequestIdentity));
		current->outer = outer;
	}
	return current;
}

/* A string (or integer) member of a jsonb object, or NULL. */
char *
DwcClaim(Jsonb *claims, const char *name)
{
	JsonbValue	buf;
	JsonbValue *v;

	if (claims == NULL || !JB_ROOT_IS_OBJECT(claims))
		return NULL;
	v = getKeyJsonValueFromContainer(&claims->root, name, strlen(name), &buf);
	if (v == NULL)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/*
 * The bearer token of the request's Authorization header, or NULL.
 * request.headers is what PostgREST sets: a JSON object, lower-case names.
 */
static char *
bearer_token(void)
{
	const char *h = GetConfigOption("request.headers", true, false);
	Jsonb	   *headers;
	char	   *auth;

	if (h == NULL || h[0] == '\0' || !DwcJsonIsValid(h, strlen(h)))
		return NULL;
	headers = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(h)));
	auth = DwcClaim(headers, "authorization");
	if (auth == NULL || pg_strncasecmp(auth, "bearer ", 7) != 0)
		return NULL;
	auth += 7;
	while (*auth == ' ')
		auth++;
	return *auth ? auth : NULL;
}

/*
 * The verified sub of the request's token, if its role claim is the role
 * the session switched to.  A token that fails verification is an error:
 * PostgREST has already accepted it, so dwc and PostgREST disagree on the
 * secret, or someone is trying a forged one.
 */
static char *
token_subject(RequestIdentity *id)
{
	char	   *token;

	if (id->token_read)
		return id->token_subject;
	token = bearer_token();
	if (token != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		TimestampTz now = GetCurrentTimestamp();
		Jsonb	   *claims;
		char	   *role;

		claims = DwcJwtVerify(token, dwc_jwt_audience,
							  (double) (now - SetEpochTimestamp()) / USECS_PER_SEC);
		role = DwcClaim(claims, "role");
		if (role != NULL && strcmp(role, GetUserNameFromId(id->outer, false)) == 0)
			id->token_subject = DwcClaim(claims, "sub");
		MemoryContextSwitchTo(old);
	}
	id->token_read = true;
	return id->token_subject;
}

static bool
is_anon(Oid role)
{
	Oid			anon = get_role_oid("dwc_anon", true);

	return OidIsValid(anon) && role == anon;
}

/* This transaction's API-key identity, or NULL. */
static RequestIdentity *
api_key_identity(void)
{
	if (pinned || current == NULL || !current->api_key || current->outer != GetOuterUserId())
		return NULL;
	return current;
}

/*
 * The role dwc acts for: the current user, except for an anonymous request
 * authenticated by an API key, which acts as the key user's role.
 */
Oid
DwcEffectiveUserId(void)
{
	Oid			uid = GetUserId();
	RequestIdentity *id = api_key_identity();

	if (id != NULL && is_anon(uid))
		return id->key_role;
	return uid;
}

/*
 * The role a request acts for seen from inside SECURITY DEFINER functions,
 * for attributing what it did (the AI call log): a job's enqueuer, an API
 * key's user's role, else the session's role (SET ROLE, as PostgREST does).
 */
Oid
DwcRequestRoleId(void)
{
	RequestIdentity *id;

	if (pinned)
		return pinned_role;
	id = api_key_identity();
	if (id != NULL && is_anon(GetOuterUserId()))
		return id->key_role;
	return GetOuterUserId();
}

bool
DwcIsApiKeyRequest(void)
{
	return api_key_identity() != NULL && is_anon(GetUserId());
}

/* The scopes of the request's API key (char * list; NIL when not a key request). */
List *
DwcApiKeyScopes(void)
{
	RequestIdentity *id;

	if (pinned)
		return pinned_scopes;
	id = api_key_identity();
	return id ? id->key_scopes : NIL;
}

/*
 * Does the request, or the job being run, act under an API key's scopes?
 * Jobs, schedules, automations and workflow runs made through a key keep
 * its scopes (dwc.jobs.scopes ...), so that what the key could not call
 * directly, the work it leaves behind cannot call either.
 */
bool
DwcIsScoped(void)
{
	if (pinned)
		return pinned_scoped;
	/* the outer role: SECURITY DEFINER code, which acts for the request, sees its definer */
	return api_key_identity() != NULL && is_anon(GetOuterUserId());
}

/*
 * Whether scopes reach a group: "*", the group itself, or, for what does
 * not write, "read" and "<group>:read".
 */
bool
DwcScopesAllow(List *scopes, const char *group, bool readonly)
{
	ListCell   *lc;

	foreach(lc, scopes)
	{
		const char *s = lfirst(lc);
		size_t		glen = strlen(group);

		if (strcmp(s, "*") == 0 || strcmp(s, group) == 0)
			return true;
		if (readonly && (strcmp(s, "read") == 0 ||
						 (strncmp(s, group, glen) == 0 && strcmp(s + glen, ":read") == 0)))
			return true;
	}
	return false;
}

/* Whether the current request or job may reach group (always, when not scoped). */
bool
DwcScopeAllows(const char *group, bool readonly)
{
	return !DwcIsScoped() || DwcScopesAllow(DwcApiKeyScopes(), group, readonly);
}

/*
 * Raise insufficient_privilege unless the current request or job may reach
 * group; what names the refused operation in the message.
 */
void
DwcRequireScope(const char *group, const char *what)
{
	if (DwcScopeAllows(group, false))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("this API key may not %s", what),
			 errdetail("It needs the scope \"%s\"%s.", group,
					   strcmp(group, "sql") == 0 ? " (SQL runs with every right of the key's user)" : ""),
			 errhint("Create a key with that scope (dwc.create_api_key), or act with a token.")));
}

/* Whether a text[] of scopes (NULL: not scoped) reaches group. */
bool
DwcScopesArrayAllow(ArrayType *scopes, const char *group)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (scopes == NULL)
		return true;
	deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			continue;
		s = TextDatumGetCString(elems[i]);
		if (strcmp(s, "*") == 0 || strcmp(s, group) == 0)
			return true;
	}
	return false;
}

/* The scopes as a text[], or NULL when the request or job is not scoped. */
ArrayType *
DwcCurrentScopesArray(void)
{
	List	   *scopes;
	Datum	   *elems;
	ListCell   *lc;
	int			i = 0;

	if (!DwcIsScoped())
		return NULL;
	scopes = DwcApiKeyScopes();
	elems = palloc(sizeof(Datum) * Max(list_length(scopes), 1));
	foreach(lc, scopes)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	return construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * The dwc user id the request acts for, or NULL: the one rule every
 * ownership check, RLS policy, audit row and enqueued job uses.
 */
char *
DwcCurrentUserId(void)
{
	RequestIdentity *id;

	if (pinned)
		return pinned_subject;
	id = api_key_identity();
	if (id != NULL)
		return id->key_subject;
	if (!IsTransactionState())
		return NULL;
	return token_subject(request_identity());
}

/*
 * Run what follows as a job's recorded identity: its role, its dwc user and,
 * for work made through an API key, the key's scopes (NULL: not scoped).
 * The worker pins before the job body and unpins after it, also on error.
 */
void
DwcIdentityPin(Oid role, const char *subject, ArrayType *scopes)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	pinned = true;
	pinned_role = role;
	pinned_subject = subject ? pstrdup(subject) : NULL;
	pinned_scoped = (scopes != NULL);
	pinned_scopes = NIL;
	if (scopes != NULL)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n; i++)
			if (!nulls[i])
				pinned_scopes = lappend(pinned_scopes, TextDatumGetCString(elems[i]));
	}
	MemoryContextSwitchTo(old);
}

void
DwcIdentityUnpin(void)
{
	if (pinned_subject)
		pfree(pinned_subject);
	list_free_deep(pinned_scopes);
	pinned = false;
	pinned_role = InvalidOid;
	pinned_subject = NULL;
	pinned_scoped = false;
	pinned_scopes = NIL;
}

PG_FUNCTION_INFO_V1(dwc_current_user_id);
PG_FUNCTION_INFO_V1(dwc_current_user_role);
PG_FUNCTION_INFO_V1(dwc_current_scopes);
PG_FUNCTION_INFO_V1(dwc__require_scope);
PG_FUNCTION_INFO_V1(dwc__set_api_key_identity);

Datum
dwc_current_user_id(PG_FUNCTION_ARGS)
{
	char	   *id = DwcCurrentUserId();

	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
dwc_current_user_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(GetUserNameFromId(DwcEffectiveUserId(), false)));
}

/* dwc.current_scopes(): the API-key scopes the request or job acts under, or NULL */
Datum
dwc_current_scopes(PG_FUNCTION_ARGS)
{
	ArrayType  *a = DwcCurrentScopesArray();

	if (a == NULL)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(a);
}

/* dwc._require_scope(grp text, what text): DwcRequireScope for SQL */
Datum
dwc__require_scope(PG_FUNCTION_ARGS)
{
	DWC_REQUIRE_ARG(0, "grp");
	DWC_REQUIRE_ARG(1, "what");
	DwcRequireScope(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/*
 * dwc._set_api_key_identity(user_id text, role text, scopes text[]): called
 * by dwc._pre_request() once it has checked the key.  Not executable by
 * PUBLIC; refused inside a job and outside anonymous requests, so no SQL a
 * user runs can turn itself into another user.
 */
Datum
dwc__set_api_key_identity(PG_FUNCTION_ARGS)
{
	RequestIdentity *id;
	char	   *role;
	Oid			role_oid;
	MemoryContext old;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	DWC_REQUIRE_ARG(0, "user_id");
	DWC_REQUIRE_ARG(1, "role");
	DWC_REQUIRE_ARG(2, "scopes");
	if (pinned)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a job cannot change the identity it runs as")));
	if (!is_anon(GetOuterUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("API keys authenticate anonymous requests only"),
				 errhint("Send either a token or an API key, not both.")));
	role = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(role, "dwc_user") != 0 && strcmp(role, "dwc_admin") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid role \"%s\" for an API key", role)));
	role_oid = get_role_oid(role, false);

	id = request_identity();
	old = MemoryContextSwitchTo(TopTransactionContext);
	id->api_key = true;
	id->key_role = role_oid;
	id->key_subject = text_to_cstring(PG_GETARG_TEXT_PP(0));
	id->key_scopes = NIL;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i])
			id->key_scopes = lappend(id->key_scopes, TextDatumGetCString(elems[i]));
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}
