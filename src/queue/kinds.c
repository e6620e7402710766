/*-------------------------------------------------------------------------
 *
 * kinds.c
 *		The job kind registry (dwc.job_kinds), cached per backend, and the
 *		validation of job payloads at enqueue time.
 *
 * Kinds are looked up for every enqueue and every job run, so each backend
 * keeps them in a hash table.  A statement trigger on dwc.job_kinds
 * invalidates the table's relcache entry at commit; our relcache callback
 * then drops the whole cache, which is rebuilt on next use.
 *
 * src/queue/kinds.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/owner.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

#include "queue/queue.h"
#include "security/identity.h"

static HTAB *kind_cache = NULL;
static bool kind_cache_valid = false;
static bool callback_registered = false;
static Oid	job_kinds_relid = InvalidOid;

static void
kinds_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == job_kinds_relid)
		kind_cache_valid = false;
}

/* Read dwc.job_kinds into the (empty) cache, with SPI. */
static void
read_registry(void *arg)
{
	uint64		i;
	int			ret;

	SPI_connect();
	ret = SPI_execute("SELECT kind, builtin, handler::oid, coalesce(default_timeout_ms, 0), "
					  "coalesce(default_max_attempts, 0), (to_jsonb(k) ->> 'leased')::bool, "
					  "(SELECT string_agg(e, '') FROM jsonb_array_elements_text(coalesce(nullif(to_jsonb(k) -> 'final_errors', 'null'), '[]')) e "
					  "  WHERE length(e) = 5) "
					  "FROM dwc.job_kinds k", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read dwc.job_kinds: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 1);
		bool		builtin = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		Datum		handler = SPI_getbinval(tup, desc, 3, &isnull);
		char	   *codes;
		const char *c;
		DwcJobKind *k;
		bool		found;

		if (strlen(name) >= sizeof(k->kind))
			continue;			/* the CHECK constraint prevents this */
		k = hash_search(kind_cache, name, HASH_ENTER, &found);
		k->handler = isnull ? InvalidOid : DatumGetObjectId(handler);
		k->default_timeout_ms = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		k->default_max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		/* NULL before ALTER EXTENSION UPDATE to 0.2.0 added the column: only http was */
		k->leased = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		if (isnull)
			k->leased = builtin && strcmp(name, "http") == 0;
		/* the SQLSTATEs, five characters each, one after another */
		k->nfinal = 0;
		codes = SPI_getvalue(tup, desc, 7);
		for (c = codes; c != NULL && strlen(c) >= 5 && k->nfinal < DWC_MAX_FINAL_ERRORS; c += 5)
			k->final_errors[k->nfinal++] = MAKE_SQLSTATE(c[0], c[1], c[2], c[3], c[4]);
		if (!builtin)
			k->builtin = DWC_KIND_FUNCTION;
		else if (strcmp(name, "noop") == 0)
			k->builtin = DWC_KIND_NOOP;
		else if (strcmp(name, "sql") == 0)
			k->builtin = DWC_KIND_SQL;
		else if (strcmp(name, "http") == 0)
			k->builtin = DWC_KIND_HTTP;
		else
		{
			/* a kind marked built-in that this library does not know */
			hash_search(kind_cache, name, HASH_REMOVE, NULL);
		}
	}
	SPI_finish();
}

static void
rebuild_cache(void)
{
	HASHCTL		ctl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(kinds_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (kind_cache != NULL)
		hash_destroy(kind_cache);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((DwcJobKind *) NULL)->kind);
	ctl.entrysize = sizeof(DwcJobKind);
	ctl.hcxt = TopMemoryContext;
	kind_cache = hash_create("dwc job kinds", 32, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	job_kinds_relid = get_relname_relid("job_kinds", get_namespace_oid("dwc", false));

	/* callers need no privileges on the registry itself */
	DwcRunAsOwner(read_registry, NULL);
	kind_cache_valid = true;
}

/*
 * Look up a job kind; returns false if it is not registered.  Must be called
 * inside a transaction.
 */
bool
DwcLookupJobKind(const char *kind, DwcJobKind *out)
{
	DwcJobKind *k;

	if (strlen(kind) >= sizeof(out->kind))
		return false;
	AcceptInvalidationMessages();
	if (!kind_cache_valid)
		rebuild_cache();
	k = hash_search(kind_cache, kind, HASH_FIND, NULL);
	if (k == NULL)
		return false;
	memcpy(out, k, sizeof(*out));
	return true;
}

void
DwcCheckQueueName(const char *queue)
{
	const char *p;
	size_t		len = strlen(queue);

	if (len == 0 || len > 63)
		goto bad;
	for (p = queue; *p; p++)
	{
		if (!(isalnum((unsigned char) *p) || strchr("_.:-", *p)))
			goto bad;
	}
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid queue name \"%s\"", queue),
			 errdetail("Queue names have 1 to 63 characters: letters, digits and any of _ . : -.")));
}

/* ---- payload validation ------------------------------------------------- */

static JsonbValue *
get_key(Jsonb *payload, const char *key, JsonbValue *buf)
{
	return getKeyJsonValueFromContainer(&payload->root, key, strlen(key), buf);
}

static void
require_string(const char *kind, Jsonb *payload, const char *key, bool required)
{
	JsonbValue	buf;
	JsonbValue *v = get_key(payload, key, &buf);

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("payload for job kind %s needs a \"%s\" string", kind, key)));
		return;
	}
	if (v->type != jbvString || (required && v->val.string.len == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" in the payload for job kind %s must be a non-empty string", key, kind)));
}

static Oid
http_function_oid(void)
{
	return DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
												CStringGetTextDatum("dwc.http(text, text, jsonb, text, integer)")));
}

/*
 * Check a job's payload against its kind, and that the enqueuing role may
 * run it: errors at enqueue time are better than dead jobs later.
 */
void
DwcValidateJobPayload(const DwcJobKind *kind, Jsonb *payload, Oid role)
{
	if (payload != NULL && !JB_ROOT_IS_OBJECT(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job payload must be a JSON object")));

	switch (kind->builtin)
	{
		case DWC_KIND_NOOP:
			break;
		case DWC_KIND_SQL:
			if (payload == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("payload for job kind sql needs a \"sql\" string")));
			require_string("sql", payload, "sql", true);
			break;
		case DWC_KIND_HTTP:
			{
				JsonbValue	buf;
				JsonbValue *v;
				Oid			fn;

				if (payload == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("payload for job kind http needs a \"url\" string")));
				require_string("http", payload, "url", true);
				require_string("http", payload, "method", false);
				v = get_key(payload, "headers", &buf);
				if (v != NULL && v->type != jbvNull &&
					!(v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data)))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("\"headers\" in the payload for job kind http must be an object of strings")));
				v = get_key(payload, "timeout_ms", &buf);
				if (v != NULL && v->type != jbvNumeric)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("\"timeout_ms\" in the payload for job kind http must be a number")));
				/* reaching arbitrary addresses is dwc.http()'s privilege */
				fn = http_function_oid();
				if (!OidIsValid(fn) || pg_proc_aclcheck(fn, role, ACL_EXECUTE) != ACLCHECK_OK)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("permission denied to enqueue http jobs"),
							 errdetail("http jobs need EXECUTE on dwc.http(), which only administrators have by default.")));
				break;
			}
		case DWC_KIND_FUNCTION:
			if (pg_proc_aclcheck(kind->handler, role, ACL_EXECUTE) != ACLCHECK_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to enqueue %s jobs", kind->kind),
						 errdetail("The job would call %s, which the role may not execute.",
								   format_procedure(kind->handler))));
			break;
	}
}

/*
 * Under an API key's scopes (scopes not NULL), may a job of this kind be
 * made?  sql and http jobs act with every right of the key's user, so they
 * need the scope "sql"; other kinds run dwc's (or an administrator's)
 * handler, which checks the scopes of what it calls.
 */
void
DwcCheckKindScopes(const DwcJobKind *kind, ArrayType *scopes)
{
	if (scopes == NULL || (kind->builtin != DWC_KIND_SQL && kind->builtin != DWC_KIND_HTTP))
		return;
	if (!DwcScopesArrayAllow(scopes, "sql"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("this API key may not make %s jobs", kind->kind),
				 errdetail("%s jobs act with every right of the key's user: they need the scope \"sql\".",
						   kind->builtin == DWC_KIND_SQL ? "sql" : "http"),
				 errhint("Create a key with the scope \"sql\" (dwc.create_api_key), or act with a token.")));
}

/* ---- SQL ------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(dwc__job_kinds_changed);

/*
 * Statement trigger on dwc.job_kinds: invalidate the table's relcache entry
 * at commit, which drops every backend's kind cache.
 */
Datum
dwc__job_kinds_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "dwc._job_kinds_changed() must be called as a trigger");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
