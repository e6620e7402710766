/*-------------------------------------------------------------------------
 *
 * ml_cache.c
 *		Deployed models, deserialised once per backend.
 *
 * A prediction names a model; the backend keeps, per (caller, PostgREST
 * user, name), the model's id, its deployed version and the deserialised
 * model in a memory context of its own.  Every change to dwc.ml_models
 * (a deployment, a retrain, a delete) bumps a counter in shared memory
 * when its transaction commits; an entry whose counter is older looks the
 * model up again (and reloads it only if the deployed version changed).
 * So a prediction with a warm cache is an atomic read and a hash lookup
 * away from the model's arithmetic.  Without shared memory (dwc not
 * preloaded) every prediction looks the model up.
 *
 * The lookup reads dwc's tables as the bootstrap superuser, through
 * dwc._ml_resolve(): the caller's own model of that name first, else (for
 * administrators) the only one of that name, or "#<id>".
 *
 * src/ml/ml_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "core/owner.h"
#include "core/shmem.h"
#include "ml/ml_cache.h"
#include "security/identity.h"

#define KEY_LEN 256

typedef struct CacheKey
{
	Oid			caller;
	char		sub[KEY_LEN];	/* the sub claim, or empty */
	char		name[KEY_LEN];
} CacheKey;

typedef struct CacheEntry
{
	CacheKey	key;
	bool		loaded;
	uint64		generation;
	MlCached	model;
} CacheEntry;

static HTAB *cache = NULL;

static void
make_key(CacheKey *k, Oid caller, const char *name)
{
	char	   *sub = DwcCurrentUserId();

	memset(k, 0, sizeof(*k));
	k->caller = caller;
	if (sub)
		strlcpy(k->sub, sub, KEY_LEN);
	if (strlen(name) >= KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name \"%.40s...\" is too long", name)));
	strlcpy(k->name, name, KEY_LEN);
}

/*
 * Run a lookup in dwc's tables as the bootstrap superuser (callers have no
 * privileges on them; the queries apply the ownership rule themselves).
 * SPI stays connected for the caller to read SPI_tuptable, then SPI_finish().
 */
static void
lookup_as_owner(const char *sql, int nargs, Oid *types, Datum *args, const char *what)
{
	DwcSavedUser save;

	SPI_connect();
	DwcBecomeOwner(&save);
	if (SPI_execute_with_args(sql, nargs, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up %s", what);
	DwcRestoreUser(&save);
}

/*
 * Id and deployed version of the model the caller means by name (or
 * "#<id>"), by the same rule, and with the same errors, as every other ML
 * function: dwc._ml_resolve().
 */
static void
lookup(const char *name, Oid caller, int64 *id, int32 *version, bool *deployed)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(caller)};
	bool		isnull;

	lookup_as_owner("SELECT m.id, m.deployed_version FROM dwc._ml_resolve($1, $2) m",
					2, types, args, "an ML model");
	*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*deployed = !isnull;
	SPI_finish();
}

/* the artifact of a version, deserialised into cxt */
static void
load(int64 id, int32 version, MemoryContext cxt, MlModel **m, MlSchema **s)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(id), Int32GetDatum(version)};
	bool		isnull;
	bytea	   *artifact;
	MemoryContext old;

	lookup_as_owner("SELECT artifact FROM dwc.ml_model_versions WHERE model_id = $1 AND version = $2",
					2, types, args, "an ML model version");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("version %d of ML model %lld does not exist", version, (long long) id)));
	artifact = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	old = MemoryContextSwitchTo(cxt);
	ml_artifact_read((const unsigned char *) VARDATA_ANY(artifact), VARSIZE_ANY_EXHDR(artifact), m, s);
	MemoryContextSwitchTo(old);
	SPI_finish();
}

MlCached *
DwcMlCachedModel(const char *name)
{
	Oid			caller = DwcEffectiveUserId();
	uint64		gen = DwcCounterValue(DwcMlCounter);
	CacheKey	key;
	CacheEntry *e;
	bool		found;
	int64		id;
	int32		version;
	bool		deployed;

	if (cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(CacheKey);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = TopMemoryContext;
		cache = hash_create("dwc ml models", 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	make_key(&key, caller, name);
	e = hash_search(cache, &key, HASH_ENTER, &found);
	if (!found)
		e->loaded = false;
	/* warm: nothing changed in dwc.ml_models since we looked */
	if (e->loaded && gen != 0 && e->generation == gen)
		return &e->model;

	lookup(name, caller, &id, &version, &deployed);
	if (!deployed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ML model \"%s\" has no deployed version", name),
				 errhint("Train it with dwc.ml_train(), or deploy a version with dwc.ml_deploy().")));
	if (!e->loaded || e->model.id != id || e->model.version != version)
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "dwc ml model", ALLOCSET_DEFAULT_SIZES);

		if (e->loaded)
		{
			MemoryContextDelete(e->model.cxt);
			e->loaded = false;
		}
		PG_TRY();
		{
			load(id, version, cxt, &e->model.model, &e->model.schema);
		}
		PG_CATCH();
		{
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		e->model.cxt = cxt;
		e->model.id = id;
		e->model.version = version;
		e->loaded = true;
	}
	e->generation = gen;
	return &e->model;
}
