/*-------------------------------------------------------------------------
 *
 * ml_raw.h
 *		Training data as read, before encoding: the columns of a table, view,
 *		query or JSON array, shared by reading (ml_read.c), splitting
 *		(ml_split.c) and encoding (ml_encode.c).
 *
 * src/ml/ml_raw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ML_RAW_H
#define DWC_ML_RAW_H

#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "ml/ml_pg.h"

/* a column as read, before encoding */
typedef struct RawColumn
{
	char	   *name;
	MlColumnKind kind;
	Oid			type;			/* SQL type (InvalidOid for JSON input) */
	int			attno;			/* in the query's result, 1-based */
	double	   *num;			/* numeric: values; categorical: level numbers in order of appearance */
	bool	   *null;
	int			nnull;
	HTAB	   *levels;			/* categorical: level text -> number */
	int			nlevels;
	char	  **level_text;		/* by number of appearance */
	int			capacity;
} RawColumn;

typedef struct LevelEntry
{
	char		key[NAMEDATALEN * 4];	/* hash key: see level_key() */
	int			index;
} LevelEntry;

typedef struct RawTable
{
	int			ncols;
	RawColumn  *cols;
	RawColumn  *target;			/* NULL for clustering */
	int			nrows;
	int			capacity;
	MlLabelKind label_kind;
	int			holdout_attno;	/* test_column, in the query's result */
	bool	   *holdout;		/* per row: a test row (test_column) */
} RawTable;

/* a table, view or query read as caller (training data, the target column and features) */
extern RawTable *MlReadSql(const char *source, const char *target, ArrayType *features, MlTask task,
						   const MlOptions *opts, Oid caller);

/* a JSON array of objects read likewise */
extern RawTable *MlReadJson(Jsonb *rows, const char *target, ArrayType *features, MlTask task,
							const MlOptions *opts);

/* the seeded hold-out split: is_test[i] for the n rows (labels for stratifying, or NULL) */
extern void MlSplit(const MlOptions *opts, const double *label, int nclasses, int n, bool *is_test);

#endif							/* DWC_ML_RAW_H */
