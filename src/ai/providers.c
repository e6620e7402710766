/*-------------------------------------------------------------------------
 *
 * providers.c
 *		The AI provider registry (dwc.ai_providers), cached per backend.
 *
 * Like the job kinds, providers are read once per backend and reread when a
 * statement trigger on the table invalidates its relcache entry.  The cache
 * holds no secret: API keys are resolved (decrypted, or read from the
 * environment or a superuser-only setting) for each call, into memory that
 * is freed with the call's context, and are never logged or shown.
 *
 * src/ai/providers.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "core/owner.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "ai/ai.h"
#include "security/crypto.h"

typedef struct CachedProvider
{
	DwcProvider p;				/* api_key is never set here */
} CachedProvider;

static List *provider_cache = NIL;
static MemoryContext provider_cxt = NULL;
static bool cache_valid = false;
static bool callback_registered = false;
static Oid	providers_relid = InvalidOid;

static void
providers_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == providers_relid)
		cache_valid = false;
}

const char *
DwcProviderKindName(DwcProviderKind kind)
{
	switch (kind)
	{
		case DWC_PROVIDER_BUILTIN:
			return "builtin";
		case DWC_PROVIDER_OPENAI:
			return "openai";
		case DWC_PROVIDER_ANTHROPIC:
			return "anthropic";
		case DWC_PROVIDER_GOOGLE:
			return "google";
		case DWC_PROVIDER_OPENAI_COMPATIBLE:
			return "openai_compatible";
	}
	return "unknown";
}

static DwcProviderKind
kind_of(const char *s)
{
	if (strcmp(s, "openai") == 0)
		return DWC_PROVIDER_OPENAI;
	if (strcmp(s, "anthropic") == 0)
		return DWC_PROVIDER_ANTHROPIC;
	if (strcmp(s, "google") == 0)
		return DWC_PROVIDER_GOOGLE;
	if (strcmp(s, "openai_compatible") == 0)
		return DWC_PROVIDER_OPENAI_COMPATIBLE;
	return DWC_PROVIDER_BUILTIN;
}

static char *
nullable_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(provider_cxt, v) : NULL;
}

static void
read_providers(void *arg)
{
	uint64		i;

	SPI_connect();
	if (SPI_execute("SELECT id, name, kind, base_url, default_model, embedding_model,"
					"       api_key_encrypted IS NOT NULL, api_key_env, api_key_setting,"
					"       timeout_ms, max_retries, requests_per_minute, tokens_per_minute,"
					"       cost_input_per_1k::float8, cost_output_per_1k::float8, cache_ttl_s"
					"  FROM dwc.ai_providers WHERE enabled", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read dwc.ai_providers");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CachedProvider *c = MemoryContextAllocZero(provider_cxt, sizeof(CachedProvider));
		bool		isnull;

		c->p.id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		c->p.name = nullable_text(tup, desc, 2);
		c->p.kind = kind_of(SPI_getvalue(tup, desc, 3));
		c->p.base_url = nullable_text(tup, desc, 4);
		c->p.default_model = nullable_text(tup, desc, 5);
		c->p.embedding_model = nullable_text(tup, desc, 6);
		c->p.has_encrypted_key = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		c->p.key_env = nullable_text(tup, desc, 8);
		c->p.key_setting = nullable_text(tup, desc, 9);
		c->p.timeout_ms = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		c->p.max_retries = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
		c->p.requests_per_minute = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
		c->p.tokens_per_minute = DatumGetInt32(SPI_getbinval(tup, desc, 13, &isnull));
		c->p.cost_input_per_1k = DatumGetFloat8(SPI_getbinval(tup, desc, 14, &isnull));
		c->p.cost_output_per_1k = DatumGetFloat8(SPI_getbinval(tup, desc, 15, &isnull));
		c->p.cache_ttl_s = DatumGetInt32(SPI_getbinval(tup, desc, 16, &isnull));
		{
			/* SPI_connect switched contexts: the list must live in ours */
			MemoryContext old = MemoryContextSwitchTo(provider_cxt);

			provider_cache = lappend(provider_cache, c);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
}

static void
rebuild_cache(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(providers_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (provider_cxt == NULL)
		provider_cxt = AllocSetContextCreate(TopMemoryContext, "dwc providers", ALLOCSET_SMALL_SIZES);
	MemoryContextReset(provider_cxt);
	provider_cache = NIL;
	providers_relid = get_relname_relid("ai_providers", get_namespace_oid("dwc", false));

	/* callers need no privileges on the registry; it holds no plain secret */
	DwcRunAsOwner(read_providers, NULL);
	cache_valid = true;
}

/* Decrypt the stored key of a provider (as superuser: the column is private). */
static char *
stored_key(int32 id)
{
	DwcSavedUser save;
	char	   *volatile key = NULL;

	DwcBecomeOwner(&save);
	PG_TRY();
	{
		Oid			type = INT4OID;
		Datum		arg = Int32GetDatum(id);

		SPI_connect();
		if (SPI_execute_with_args("SELECT api_key_encrypted FROM dwc.ai_providers WHERE id = $1",
								  1, &type, &arg, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				int			len;
				char	   *k = DwcDecrypt(DatumGetByteaPP(d), &len);

				/* SPI_palloc: in the caller's context, which outlives SPI_finish */
				key = SPI_palloc(len + 1);
				memcpy(key, k, len + 1);
				explicit_bzero(k, len);
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		DwcRestoreUser(&save);
	}
	PG_END_TRY();
	return key;
}

/*
 * Look up an enabled provider by name; the result (a copy in the current
 * memory context) carries its API key when it has one.
 */
DwcProvider *
DwcLookupProvider(const char *name, bool missing_ok)
{
	ListCell   *lc;

	AcceptInvalidationMessages();
	if (!cache_valid)
		rebuild_cache();
	foreach(lc, provider_cache)
	{
		CachedProvider *c = lfirst(lc);
		DwcProvider *p;

		if (strcmp(c->p.name, name) != 0)
			continue;
		p = palloc(sizeof(DwcProvider));
		memcpy(p, &c->p, sizeof(DwcProvider));
		p->name = pstrdup(c->p.name);
		p->api_key = NULL;
		p->key_resolved = false;
		p->key_env = c->p.key_env ? pstrdup(c->p.key_env) : NULL;
		p->key_setting = c->p.key_setting ? pstrdup(c->p.key_setting) : NULL;
		return p;
	}
	if (!missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("AI provider \"%s\" does not exist or is disabled", name),
				 errhint("Add one with dwc.add_provider(); builtin works offline.")));
	return NULL;
}

/*
 * The provider's API key, resolved now: decrypted from the table, or read
 * from the environment or a setting.  Deferred to the first request that
 * needs it, so cache hits and builtin calls never touch the secret.
 */
void
DwcProviderResolveKey(DwcProvider *p)
{
	if (p->key_resolved)
		return;
	p->key_resolved = true;
	if (p->has_encrypted_key)
		p->api_key = stored_key(p->id);
	else if (p->key_env)
	{
		const char *v = getenv(p->key_env);

		if (v && *v)
			p->api_key = pstrdup(v);
	}
	else if (p->key_setting)
	{
		const char *v = GetConfigOption(p->key_setting, true, false);

		if (v && *v)
			p->api_key = pstrdup(v);
	}
}

PG_FUNCTION_INFO_V1(dwc__providers_changed);

/* Statement trigger on dwc.ai_providers: every backend rereads it at commit. */
Datum
dwc__providers_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "dwc._providers_changed() must be called as a trigger");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(dwc__ai_provider_has_key);

/*
 * dwc._ai_provider_has_key(name): does the provider have a key to send now?
 * A stored key, or an environment variable or setting that is set and not
 * empty; a named variable the server's environment lacks is no key.  NULL
 * for a provider that does not exist or is disabled.
 */
Datum
dwc__ai_provider_has_key(PG_FUNCTION_ARGS)
{
	DwcProvider *p = DwcLookupProvider(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);

	if (p == NULL)
		PG_RETURN_NULL();
	if (p->has_encrypted_key)
		PG_RETURN_BOOL(true);
	DwcProviderResolveKey(p);
	PG_RETURN_BOOL(p->api_key != NULL);
}
