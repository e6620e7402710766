/*-------------------------------------------------------------------------
 *
 * trampoline.c
 *		Calling a private SECURITY DEFINER function on behalf of the caller.
 *
 * dwc's management functions (cancel a job, alter a schedule ...) must read
 * and write dwc's tables, which callers have no privileges on, and must
 * know who the caller is, to check ownership.  In a SECURITY DEFINER
 * function current_user is the definer, so the caller is lost.  Hence each
 * such function is split in two:
 *
 *   dwc._cancel_job(caller, id) SECURITY DEFINER, not executable by PUBLIC
 *   dwc.cancel_job(id)          LANGUAGE c, 'dwc_trampoline', callable by users
 *
 * Only the private half is written: SELECT dwc._declare_public('dwc._cancel_job')
 * beside it makes the public stub from its signature (src/security/roles.sql),
 * which is why the caller comes first: the other arguments keep their
 * defaults.  The trampoline records the real caller (the role PostgREST
 * switched to, or for API-key requests the key user's role:
 * DwcEffectiveUserId()) and calls the private function through fmgr, which
 * does not check EXECUTE privileges, with the caller's OID as the first
 * argument.  The private function's name is "_" plus the public name, in
 * schema dwc; for functions of other schemas, "_<schema>_<name>".  Set
 * returning functions work too: the private function fills the same
 * ReturnSetInfo.
 *
 * src/security/trampoline.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "security/trampoline.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_trampoline);

/*
 * The caller of the innermost trampoline call in progress, for code that
 * runs inside the private function and needs to know who is acting (the
 * audit trigger: inside SECURITY DEFINER functions GetUserId() is the
 * definer).  InvalidOid outside trampoline calls.
 */
Oid			DwcTrampolineCaller = InvalidOid;

typedef struct TrampolineTarget
{
	FmgrInfo	flinfo;
	int			nargs;			/* of the public function */
	int			caller_at;		/* the caller's position: 0, or nargs for 0.1.0's halves */
} TrampolineTarget;

static TrampolineTarget *
lookup_target(FunctionCallInfo fcinfo)
{
	Oid			self = fcinfo->flinfo->fn_oid;
	HeapTuple	tup;
	Form_pg_proc proc;
	char	   *schema;
	char	   *target;
	Oid			argtypes[FUNC_MAX_ARGS];
	Oid			target_oid;
	TrampolineTarget *t;
	int			nargs;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", self);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	nargs = proc->pronargs;
	if (nargs + 1 > FUNC_MAX_ARGS)
		elog(ERROR, "too many arguments for a dwc trampoline");
	argtypes[0] = OIDOID;
	memcpy(argtypes + 1, proc->proargtypes.values, sizeof(Oid) * nargs);
	schema = get_namespace_name(proc->pronamespace);
	if (strcmp(schema, "dwc") == 0)
		target = psprintf("_%s", NameStr(proc->proname));
	else
		target = psprintf("_%s_%s", schema, NameStr(proc->proname));

	t = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TrampolineTarget));
	t->nargs = nargs;
	target_oid = LookupFuncName(list_make2(makeString("dwc"), makeString(target)), nargs + 1, argtypes, true);
	if (!OidIsValid(target_oid))
	{
		/*
		 * An installation still at 0.1.0's SQL (this library serves it until
		 * ALTER EXTENSION dwc UPDATE) has its halves with the caller last.
		 */
		memcpy(argtypes, proc->proargtypes.values, sizeof(Oid) * nargs);
		argtypes[nargs] = OIDOID;
		target_oid = LookupFuncName(list_make2(makeString("dwc"), makeString(target)), nargs + 1, argtypes, false);
		t->caller_at = nargs;
	}
	ReleaseSysCache(tup);
	fmgr_info_cxt(target_oid, &t->flinfo, fcinfo->flinfo->fn_mcxt);
	return t;
}

/* inner, called with DwcTrampolineCaller set to caller for its duration */
Datum
DwcCallAs(FunctionCallInfo inner, Oid caller)
{
	Oid			saved = DwcTrampolineCaller;
	Datum		result;

	DwcTrampolineCaller = caller;
	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_FINALLY();
	{
		DwcTrampolineCaller = saved;
	}
	PG_END_TRY();
	return result;
}

/*
 * Set up inner as a call of target with the first nargs arguments of outer
 * (target takes ninner >= nargs; the caller fills the rest).  Returns false
 * when target is strict and one of them is NULL: the caller then returns
 * NULL without calling it, as the executor would.
 */
bool
DwcForwardArgs(FunctionCallInfo outer, FunctionCallInfo inner, FmgrInfo *target, int nargs, int ninner)
{
	int			i;

	InitFunctionCallInfoData(*inner, target, ninner, outer->fncollation, outer->context, outer->resultinfo);
	for (i = 0; i < nargs; i++)
	{
		inner->args[i] = outer->args[i];
		if (target->fn_strict && outer->args[i].isnull)
			return false;
	}
	return true;
}

/*
 * Forward the call to the private function with the caller's OID first.
 */
Datum
dwc_trampoline(PG_FUNCTION_ARGS)
{
	TrampolineTarget *t = (TrampolineTarget *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	Datum		result;
	int			i;

	if (t == NULL)
	{
		t = lookup_target(fcinfo);
		fcinfo->flinfo->fn_extra = t;
	}

	InitFunctionCallInfoData(*inner, &t->flinfo, t->nargs + 1, fcinfo->fncollation, fcinfo->context,
							 fcinfo->resultinfo);
	inner->args[t->caller_at].value = ObjectIdGetDatum(DwcEffectiveUserId());
	inner->args[t->caller_at].isnull = false;
	for (i = 0; i < t->nargs; i++)
	{
		if (t->flinfo.fn_strict && fcinfo->args[i].isnull)
			PG_RETURN_NULL();	/* as the executor would not call a strict function */
		inner->args[t->caller_at == 0 ? i + 1 : i] = fcinfo->args[i];
	}

	result = DwcCallAs(inner, DatumGetObjectId(inner->args[t->caller_at].value));
	fcinfo->isnull = inner->isnull;
	return result;
}
