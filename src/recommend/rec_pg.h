/*-------------------------------------------------------------------------
 *
 * rec_pg.h
 *		The recommender's PostgreSQL side, shared by its files: models and
 *		their hyperparameters, running as the tables' owner, prepared
 *		queries, id maps and the per-backend item cache (rec_model.c).
 *
 * The SQL functions are called by users but read and write dwc's tables,
 * which users hold no privileges on: they run their queries as the
 * bootstrap superuser and keep to the caller's rows themselves, through
 * dwc._rec_resolve(model, caller) (the one ownership rule, dwc._may_manage)
 * and the model's (owner, owner_user) on every other query.  No query
 * contains text from the caller other than as a parameter.
 *
 * src/recommend/rec_pg.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_REC_PG_H
#define DWC_REC_PG_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "portability/instr_time.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "core/owner.h"
#include "recommend/rec_core.h"

/* the most items one call returns */
#define MAX_N 10000

typedef enum RecAlgorithm
{
	REC_ALS,
	REC_IALS,
	REC_SVD,
	REC_KNN,
	REC_UKNN,
	REC_POPULARITY,
	REC_BPR,
	REC_CONTENT,
	REC_HYBRID
} RecAlgorithm;

/* the algorithms with user and item factors, and those of them fitted by ALS */
#define HAS_FACTORS(a) ((a) == REC_ALS || (a) == REC_IALS || (a) == REC_SVD || (a) == REC_BPR)

#define IS_ALS(a) ((a) == REC_ALS || (a) == REC_IALS)

/* collaborative kNN: neighbours from the interactions, scores averaged over them */
#define IS_KNN(a) ((a) == REC_KNN || (a) == REC_UKNN)

/* the versions that keep neighbour lists of items */
#define HAS_ITEM_NEIGHBORS(a) ((a) == REC_KNN || (a) == REC_CONTENT)

/* the most component models of a hybrid */
#define MAX_COMPONENTS 4

typedef struct RecParams
{
	RecAlgorithm algorithm;
	int			rank;
	double		lambda;
	int			iterations;
	int64		seed;
	double		alpha;
	int			power_iterations;
	int			neighbors;
	double		shrinkage;
	int			min_support;
	double		min_similarity; /* neighbours less similar are dropped; NaN: none */
	bool		adjusted;		/* adjusted cosine: values centred on each user's mean */
	double		half_life_days;
	double		learning_rate;	/* bpr */
	char	   *text_config;	/* content: a text search configuration */
	double		feature_weight;
	double		max_df;
	int			ncomponents;	/* hybrid */
	char	   *components[MAX_COMPONENTS];
	double		weights[MAX_COMPONENTS];
	char	   *cold_start;		/* NULL when none */
	int			min_interactions;
} RecParams;

/* a model as dwc._rec_resolve() returns it */
typedef struct RecModel
{
	int64		id;
	RecParams	params;
	Oid			owner;
	char	   *owner_user;		/* NULL when none */
	int32		deployed;		/* 0 when none */
} RecModel;

/* the item side of a deployed version, cached per backend */
/* ids interned: the same string gets the same number, in order of first appearance (rec_intern.c) */
typedef struct RecInterned RecInterned;
typedef struct RecIntern
{
	RecInterned *slots;
	uint32		mask;			/* slots - 1 */
	char	  **names;			/* by number, NUL-terminated */
	int		   *lens;
	int			count;
	int			cap;
	MemoryContext cxt;			/* where names and slots live */
} RecIntern;

extern void rec_intern_init(RecIntern *t, int expected, MemoryContext cxt);

/* the id's number; a new one when add, else -1 for an id not seen */
extern int	rec_intern(RecIntern *t, const char *bytes, int len, bool add);
extern int	rec_intern_text(RecIntern *t, Datum d, bool add);
extern int	rec_intern_find_text(const RecIntern *t, Datum d);

static inline int
rec_intern_cstring(RecIntern *t, const char *s, bool add)
{
	return rec_intern(t, s, strlen(s), add);
}

typedef struct ItemCache
{
	int64		model_id;
	int32		version;
	MemoryContext cxt;
	int			k;
	int			nitems;
	double		mean;
	char	  **ids;
	double	   *Y;				/* nitems × k; popularity: the scores, k = 1 */
	bool		item_bias;		/* BPR: Y's last column is a bias, not a factor */
	int			nusers;			/* users the version was trained on */
	double	   *norm;			/* |y_i|, of the factors alone */
	double	   *YtY;			/* k × k, for implicit fold-in */
	int			K;				/* item_knn: neighbours per item */
	int		   *nb_idx;			/* nitems × K positions, -1 past the last */
	double	   *nb_sim;
	double	   *n;				/* interactions per item */
	RecIntern	index;			/* id -> position; index.names are the ids */
} ItemCache;

/* ---- running as the owner of dwc's tables --------------------------------- */

typedef struct AsOwner
{
	Oid			caller;			/* who dwc acts for, taken before the switch */
	DwcSavedUser saved;
} AsOwner;

/*
 * The owner's condition on a table with (owner, owner_user), parameters $1 and
 * $2; written as the expression indexes are (IS NOT DISTINCT FROM is not
 * indexable).
 */
#define OWNER_IS "owner = $1 AND coalesce(owner_user, '') = coalesce($2, '')"

/* ---- rec_model.c ---- */

/* switch to the tables' owner, taking the caller (DwcEffectiveUserId) first; and back */
extern void rec_as_owner(AsOwner *save);
extern void rec_as_caller(const AsOwner *save);

/* an algorithm and its hyperparameters, checked; errors name what is wrong */
extern void rec_parse_params(const char *algorithm, Jsonb *hp, RecParams *p);

/* SPI_execute_with_args, planned once per backend for sql (a string constant) */
extern int	rec_run_prepared(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls,
							 bool read_only, long count);

/* the model the caller names (its name, or #id); errors if there is none for them */
extern void rec_resolve_model(const char *name, Oid caller, RecModel *m);
extern void rec_require_deployed(const RecModel *m, const char *name);

/* the parameters $1 and $2 of OWNER_IS for the model's owner; and a third, $3 */
extern void rec_owner_args(const RecModel *m, Oid *types, Datum *args, char *nulls);
extern void rec_owner_args3(const RecModel *m, Oid type3, Datum arg3, Oid *types, Datum *args, char *nulls);

/* ---- rec_read.c ---- */

/* one (user, item) as a model trains on it: its latest value */
typedef struct RecRow
{
	int			u;				/* the user's place among the users read, in byte order */
	int			i;				/* the item's among the items */
	double		v;
	double		age;			/* days since it was recorded */
	bool		test;			/* at or after the test_from given */
} RecRow;

/* what rec_read_latest read */
typedef struct RecRead
{
	RecRow	   *rows;			/* by user then item */
	int			n;
	char	  **users;			/* the distinct ids, in byte order */
	int			nusers;
	char	  **items;
	int			nitems;
} RecRead;

/* the latest value of each (user, item) of m's owner (rec_read.c) */
extern void rec_read_latest(const RecModel *m, bool has_test_from, Datum test_from, RecRead *out);

/* the deployed version's item side, cached per backend; SPI connected, as owner */
extern ItemCache *rec_load_items(const RecModel *m);

/* a user's factors in the deployed version, or NULL */
extern double *rec_user_factors(const RecModel *m, const char *user, int k);

/* the factors of many users (interned) in one query; NULL for those the version does not know */
extern void rec_users_factors(const RecModel *m, const ItemCache *c, RecIntern *users, double **out);

/* a user's latest values of the version's items; returns how many (see rec_model.c) */
extern int	rec_user_values(const RecModel *m, ItemCache *c, const char *user, bool fresh, int **idx,
							double **val, double *mean);

/* a user's scores of every item of c, as recommend() ranks them (any algorithm but hybrid; rec_score.c) */
extern void rec_score_user(const RecModel *m, ItemCache *c, const char *user, double *scores);

/*
 * A user's item-kNN and user-kNN ranking scores (NaN where none of their items
 * or neighbours reaches) or, with predict, predicted ratings; false when the
 * model knows none of their items (has no neighbours of them).
 */
extern bool rec_score_knn(const RecModel *m, ItemCache *c, const char *user, bool predict, double *scores);
extern bool rec_score_uknn(const RecModel *m, ItemCache *c, const char *user, bool predict, double *scores);

/* the model's predicted value of every item for the user (rec_explain's); false, all NaN, for an unknown user */
extern bool rec_predict_user(const RecModel *m, ItemCache *c, const char *user, double *out);

/* a user's content-neighbour scores, NaN where none of their items reaches; false when none is known */
extern bool rec_score_content(const RecModel *m, ItemCache *c, const char *user, double *scores);

/* ---- rec_fit.c: fitting in memory, and the held-out metrics ---- */

/* the interactions a model is trained on (the latest of each pair), split */
typedef struct RecSet
{
	RecEntry   *t;				/* values as read; test: held out */
	double	   *age;			/* days since each was recorded (popularity's decay) */
	int			nt;
	int			nusers;
	int			nitems;
	int			ntrain;
	int			ntest;
	char	  **uid;			/* ids by position */
	char	  **iid;
	RecIntern	items;			/* the known items' ids -> position (content models read their items' text by it) */
} RecSet;

/* what fitting a model to a set made */
typedef struct RecFit
{
	RecEntry   *t;				/* the fit's copy of the rows, values as read */
	int			k;				/* factors per row (BPR: and the item bias) */
	double		mean;			/* ALS and kNN: the training mean */
	double	   *X;				/* users × k, factor models */
	double	   *Y;				/* items × k; kNN: item biases; popularity: the scores */
	double	   *ucount;			/* training interactions per user */
	double	   *icount;			/* per item (popularity: decayed sums) */
	int		   *nb_idx;			/* kNN and content: K neighbours per row */
	double	   *nb_sim;
	int			K;
	int			nterms;			/* content: terms used */
	double		fit_ms;			/* the fitting alone */
} RecFit;

/* a user's scores of every item of a set, for the ranking (tr: the training rows by user) */
typedef void (*RecScorer) (void *arg, int u, const RecCsr *tr, double *scores);

extern void rec_put_num(StringInfo b, const char *key, double v, bool *first);

/* fit m (not a hybrid) to the training rows of s, in the current memory context */
extern void rec_fit(const RecModel *m, const RecSet *s, RecFit *f);

/* a fit's ranking scores of user u, as a deployed version of it would rank them */
extern void rec_fit_scores(const RecModel *m, const RecFit *f, int u, const RecCsr *tr, int nitems, double *scores);

/* rmse, mae and rmse_of_mean of the held-out values, for the models that predict ratings */
extern void rec_fit_rating_metrics(const RecModel *m, const RecFit *f, const RecSet *s, StringInfo metrics,
								   bool *first);

/*
 * precision, recall, NDCG and MAP at topk over the users with a held-out
 * value of at least relevant_min, each ranking the items they did not train
 * on by scorer; coverage of those lists; users_evaluated.
 */
extern void rec_rank_evaluation(const RecSet *s, int topk, double relevant_min, RecScorer scorer, void *arg,
								StringInfo metrics, bool *first);

/* ---- rec_store.c: versions ---- */

/* one side's rows of a version: ids, factors (n × k), counts */
extern void rec_store_side(int64 model_id, int32 version, char side, char **ids, const double *F,
						   const double *cnt, int n, int k);

/* one side's neighbour lists of a version: K neighbours and similarities per row */
extern void rec_store_neighbors(int64 model_id, int32 version, char side, char **ids, const int *nb_idx,
								const double *nb_sim, int nitems, int K);

/* a new version of the model (not yet deployed), its number returned */
extern int32 rec_insert_version(const RecModel *m, const char *hyperparameters, double mean, int nusers,
								int nitems, int ntrain, int ntest, const char *metrics);

/* deploy the version, with its training time since t0; the version as jsonb in outer */
extern Jsonb *rec_deploy_version(const RecModel *m, int32 version, instr_time t0, MemoryContext outer);

/* ---- rec_content.c ---- */

/*
 * The content model's K nearest items of each item of the index (nitems of
 * them): the cosine of TF-IDF vectors of their text and features.  Returns
 * the number of terms used.
 */
extern int	rec_content_neighbors(const RecModel *m, const RecIntern *items, int nitems, int K, int *nb_idx,
								  double *nb_sim);

/* ---- rec_hybrid.c ---- */

/*
 * A hybrid's components (nparts of them), then its cold-start model if it is
 * not one of them; *cold: the cold-start model's place, or -1 for none.
 */
extern void rec_hybrid_parts(const RecModel *h, RecModel *parts, int *nparts, int *cold);

/*
 * A new version of the hybrid, deployed; its metrics its components', and,
 * when s has held-out rows, its own: its components fitted on s's training
 * rows and fused as recommend() fuses them.
 */
extern Jsonb *rec_train_hybrid(const RecModel *m, const RecSet *s, int topk, double relevant_min, instr_time t0,
							   MemoryContext outer);

/*
 * A hybrid's scores of the user: its components' (or, for a user with too
 * few interactions, its cold-start model's) over the union of their items,
 * returned as an ItemCache of those items (ids and index) with *scores.
 * explain_item: also describe in explain how that item's score was made.
 */
extern ItemCache *rec_hybrid_scores(const RecModel *h, const char *user, double **scores,
									const char *explain_item, StringInfo explain);

#endif							/* DWC_REC_PG_H */
