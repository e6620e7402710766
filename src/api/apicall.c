/*-------------------------------------------------------------------------
 *
 * apicall.c
 *		The api schema's functions: access checks, API-key scopes, and the
 *		HTTP statuses PostgREST gives to their errors.
 *
 * Every function of the api schema (the one PostgREST exposes) is this C
 * function, generated at install time from its rule in dwc.api_access and
 * the function of the same name and signature it serves: dwc.<name> itself
 * when the rule says direct, else the body api_impl.<name>.  The wrapper
 *
 *   - checks who may call: functions marked "user" in dwc.api_access need a
 *     signed-in user (a token's role, or an API key accepted by
 *     dwc.pre_request); functions marked "admin" are only granted to
 *     dwc_admin; an API key must hold the function's scope (its group, or
 *     group:read and read for functions that do not write);
 *   - calls its target through fmgr, handing it the caller's ReturnSetInfo:
 *     a set-returning target (a list endpoint) fills it as if the executor had
 *     called it, one row per call or a tuplestore, so lists keep their rows
 *     and PostgREST can filter, order, page and count them;
 *   - and, when the body fails, changes the SQLSTATE to the one that gives
 *     PostgREST the right HTTP status, keeping message, detail and hint:
 *     PostgREST answers 500 for P0002 (no_data_found) and 55000, and treats
 *     08xxx as a lost database connection, so:
 *
 *       P0002 no_data_found                     -> PT404
 *       55000, 55006 not in prerequisite state  -> PT409
 *       28P01 invalid_password                  -> PT401
 *       53400 configuration limit (rate limits) -> PT429
 *       08xxx (an AI provider or webhook down)  -> PT502
 *       38000 external routine (bad response)   -> PT502
 *       0A000 feature_not_supported             -> PT501
 *
 *     Others keep their SQLSTATE, which PostgREST maps itself (22xxx 400,
 *     23505 409, 42501 401/403, 28000 403).  Permission denials are
 *     recorded as security events.
 *
 * dwc's own SQL functions (schema dwc) keep the standard SQLSTATEs; only the
 * HTTP face is remapped.  Re-throwing a modified copy of the error is safe
 * here because nothing else runs between catching and re-throwing.
 *
 * src/api/apicall.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "security/trampoline.h"
#include "security/events.h"
#include "security/identity.h"

typedef struct ApiTarget
{
	FmgrInfo	flinfo;
	int			nargs;
	char	   *name;
	char		access;			/* 'a'non, 'u'ser, 'A'dmin */
	char	   *group;
	bool		direct;			/* serves dwc.<name>, not the body api_impl.<name> */
	bool		readonly;		/* the body does not write (not VOLATILE) */
} ApiTarget;

PG_FUNCTION_INFO_V1(dwc_api_call);

static void
read_access(ApiTarget *t, MemoryContext cxt)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(t->name);

	SPI_connect();
	/* direct through to_jsonb: 0.1.0's table, still there until ALTER EXTENSION UPDATE, lacks it */
	if (SPI_execute_with_args("SELECT a.access, a.grp, coalesce((to_jsonb(a)->>'direct')::bool, false) "
							  "FROM dwc.api_access a WHERE a.name = $1", 1, &type, &arg,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read dwc.api_access");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("api.%s has no access rule", t->name),
				 errhint("Every api function needs a row in dwc.api_access.")));
	{
		char	   *access = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		char	   *grp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		char	   *direct = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

		t->access = strcmp(access, "anon") == 0 ? 'a' : (strcmp(access, "admin") == 0 ? 'A' : 'u');
		t->group = MemoryContextStrdup(cxt, grp ? grp : "");
		t->direct = direct != NULL && strcmp(direct, "t") == 0;
	}
	SPI_finish();
}

static ApiTarget *
lookup_target(FunctionCallInfo fcinfo)
{
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid			argtypes[FUNC_MAX_ARGS];
	Oid			target_oid;
	ApiTarget  *t;
	char	   *target;
	List	   *qname;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	t = MemoryContextAllocZero(cxt, sizeof(ApiTarget));
	t->nargs = proc->pronargs;
	t->name = MemoryContextStrdup(cxt, NameStr(proc->proname));
	memcpy(argtypes, proc->proargtypes.values, sizeof(Oid) * t->nargs);
	ReleaseSysCache(tup);

	read_access(t, cxt);

	target = pstrdup(t->name);
	qname = list_make1(makeString(t->direct ? "dwc" : "api_impl"));
	qname = lappend(qname, makeString(target));
	target_oid = LookupFuncName(qname, t->nargs, argtypes, false);
	fmgr_info_cxt(target_oid, &t->flinfo, cxt);
	t->readonly = func_volatile(target_oid) != PROVOLATILE_VOLATILE;
	return t;
}

static void
deny_scope(const ApiTarget *t)
{
	DwcSecurityEvent("permission_denied", "warning", DwcCurrentUserId(),
					 psprintf("{\"function\": \"api.%s\", \"reason\": \"API key scope\"}", t->name));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("this API key may not call api.%s", t->name),
			 errdetail("It needs the scope \"%s\"%s.", t->group,
					   t->readonly ? psprintf(", \"%s:read\" or \"read\"", t->group) : ""),
			 errhint("Create a key with that scope (dwc.create_api_key).")));
}

static void
check_access(const ApiTarget *t)
{
	Oid			anon;

	if (t->access == 'a')
		return;
	/*
	 * Under an API key's scopes, whoever the role: a request with the key,
	 * or a job, schedule, automation or workflow run made through one.
	 */
	if (DwcIsScoped())
	{
		if (!DwcScopeAllows(t->group, t->readonly))
			deny_scope(t);
		return;
	}
	anon = get_role_oid("dwc_anon", true);
	if (GetUserId() != anon)
		return;					/* signed in with a token, or a trusted SQL role: grants decide */
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("api.%s needs a signed-in user", t->name),
			 errhint("Send an access token (Authorization: Bearer ...) or an API key (X-API-Key).")));
}

static int
http_sqlstate(int code)
{
	switch (code)
	{
		case ERRCODE_NO_DATA_FOUND:
			return MAKE_SQLSTATE('P', 'T', '4', '0', '4');
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_OBJECT_IN_USE:
			return MAKE_SQLSTATE('P', 'T', '4', '0', '9');
		case ERRCODE_INVALID_PASSWORD:
			return MAKE_SQLSTATE('P', 'T', '4', '0', '1');
		case ERRCODE_CONFIGURATION_LIMIT_EXCEEDED:
			return MAKE_SQLSTATE('P', 'T', '4', '2', '9');
		case ERRCODE_EXTERNAL_ROUTINE_EXCEPTION:
			return MAKE_SQLSTATE('P', 'T', '5', '0', '2');
		case ERRCODE_FEATURE_NOT_SUPPORTED:
			return MAKE_SQLSTATE('P', 'T', '5', '0', '1');
		default:
			if (ERRCODE_TO_CATEGORY(code) == ERRCODE_CONNECTION_EXCEPTION)
				return MAKE_SQLSTATE('P', 'T', '5', '0', '2');
			return code;
	}
}

/* Call the body; on error, re-throw with the SQLSTATE for PostgREST. */
static Datum
invoke(const ApiTarget *t, FunctionCallInfo inner)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
			DwcSecurityEvent("permission_denied", "warning", DwcCurrentUserId(),
							 psprintf("{\"function\": \"api.%s\"}", t->name));
		edata->sqlerrcode = http_sqlstate(edata->sqlerrcode);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

Datum
dwc_api_call(PG_FUNCTION_ARGS)
{
	ApiTarget  *t = (ApiTarget *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	Datum		result;

	if (t == NULL)
	{
		t = lookup_target(fcinfo);
		fcinfo->flinfo->fn_extra = t;
	}
	check_access(t);

	if (!DwcForwardArgs(fcinfo, inner, &t->flinfo, t->nargs, t->nargs))
		PG_RETURN_NULL();
	result = invoke(t, inner);
	fcinfo->isnull = inner->isnull;
	return result;
}
