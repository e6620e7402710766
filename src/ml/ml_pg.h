/*-------------------------------------------------------------------------
 *
 * ml_pg.h
 *		The PostgreSQL side of dwc's ML: binding the core's hooks, reading
 *		training data, options, and the per-backend model cache.
 *
 * src/ml/ml_pg.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ML_PG_H
#define DWC_ML_PG_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "ml/ml_core.h"

/* in ml_pg.c */
extern void DwcMlBindHooks(void);

/* in init.c: loading ML, and the counter of dwc.ml_models changes (the model cache) */
extern int	DwcMlCounter;
extern void DwcMlInit(void);
extern JsonbValue *DwcMlJsonbKey(JsonbContainer *obj, const char *key);
extern bool DwcMlDatumNumber(Datum d, Oid type, double *out);

/* in ml_params.c */
extern void DwcMlParseHyperparameters(MlAlgorithm algorithm, MlTask task, Jsonb *hp, MlParams *out);
extern MlTask DwcMlParseTask(const char *task);
extern MlAlgorithm DwcMlParseAlgorithm(const char *algorithm);

/* training data, read (ml_read.c), split (ml_split.c), encoded and standardised (ml_encode.c) */
typedef struct MlOptions
{
	double		test_size;
	uint64		seed;
	bool		stratify;
	bool		impute;			/* NULL features: impute (mean, most frequent level) or refuse */
	bool		missing;		/* NULL features kept as missing values (gradient boosting) */
	bool		nulls_given;	/* the caller chose how */
	bool		native_categorical;	/* text columns as one input, their level number (gradient boosting) */
	int			max_categories;
	char	   *test_column;	/* a boolean column marking the test rows, or NULL: a seeded split */
} MlOptions;

typedef struct MlPrepared
{
	MlSchema   *schema;
	MlData		train;
	MlData		test;			/* n = 0 when test_size is 0 */
	int			nrows;
	char	  **features;		/* the feature columns used, in order */
	int			nfeatures;
} MlPrepared;

extern void DwcMlParseOptions(Jsonb *options, MlTask task, MlOptions *out);
extern char *DwcMlResolveSource(const char *source);
extern MlPrepared *DwcMlPrepare(const char *source, Jsonb *rows, const char *target, ArrayType *features,
								MlTask task, const MlOptions *opts, bool standardize, Oid caller);

/* in ml_predict.c: a row of features (jsonb object) encoded for a model's schema */
extern void DwcMlEncodeJsonb(const MlSchema *s, Jsonb *row, double *x, bool ignore_extra);
extern Jsonb *DwcMlLabelJsonb(const MlModel *m, const MlSchema *s, double prediction);

/* ---- ml_describe.c: models as JSON ---- */

extern void ml_put_key(JsonbParseState **st, const char *k);
extern void ml_put_num(JsonbParseState **st, const char *k, double d);	/* NaN or infinite: null */
extern void ml_put_str(JsonbParseState **st, const char *k, const char *s);	/* NULL: null */
extern void ml_put_jsonb(JsonbParseState **st, const char *k, Jsonb *j);
extern void ml_put_bool(JsonbParseState **st, const char *k, bool b);
extern void ml_put_strings(JsonbParseState **st, const char *k, char **strs, int n);
extern void ml_put_labels(JsonbParseState **st, const char *k, const MlModel *m, const MlSchema *s);

/* the model's hyperparameters, as the version records them */
extern Jsonb *ml_params_jsonb(const MlModel *m);

#endif							/* DWC_ML_PG_H */
