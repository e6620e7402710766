/*-------------------------------------------------------------------------
 *
 * ml_cache.h
 *		The per-backend cache of deployed models (ml_cache.c).
 *
 * src/ml/ml_cache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ML_CACHE_H
#define DWC_ML_CACHE_H

#include "ml/ml_pg.h"

typedef struct MlCached
{
	int64		id;
	int32		version;
	MemoryContext cxt;
	MlModel    *model;
	MlSchema   *schema;
} MlCached;

/* the deployed version of the model the caller names; errors if there is none */
extern MlCached *DwcMlCachedModel(const char *name);

#endif							/* DWC_ML_CACHE_H */
