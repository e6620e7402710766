/*-------------------------------------------------------------------------
 *
 * artifact.c
 *		The binary format models are stored in (dwc.ml_model_versions.artifact).
 *
 *   header   "DWCML" (5 bytes), format (1 byte, now 2; 1 is read too), 2 zero bytes,
 *            payload length (u32), CRC-32C of the payload (u32)
 *   payload  model: algorithm (u8), task (u8), inputs p (u32), classes (u32),
 *                   hyperparameters (fixed order, see write_params)
 *            schema: columns (name, kind, levels, [2: one input, the level's number],
 *                    offset, imputation),
 *                    inputs, target name, label kind, class labels,
 *                    standardisation (means and scales) if any
 *            body:   per algorithm (see write_body); matrices column-major
 *                    (training rows of k nearest neighbours), row-major (per
 *                    class or cluster: weights, means, centres)
 *
 * Every integer is little-endian of the width given, every real an IEEE
 * 754 double stored little-endian, every string a u32 byte length and its
 * bytes (no terminator, no NUL inside), whatever the host: an artifact
 * moves between servers with pg_dump.  Nothing in it depends on when or
 * where it was made, so the same data, spec and seed give the same bytes.
 *
 * The reader trusts nothing: every length is checked against what is
 * left, and everything a predictor indexes with (tree children and leaf
 * rows, feature numbers, class indices of neighbours, column offsets) is
 * checked to be in range, so a corrupted artifact is an error, never a
 * crash.  Tree children must come after their parent, which is also what
 * makes every walk down a tree end.  test/fuzz/artifact_fuzz.c runs it on
 * mutated artifacts.
 *
 * src/ml/artifact.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "ml/ml_core.h"

#define HEADER_LEN 16
#define MAX_P 1000000
#define MAX_CLASSES 100000
#define MAX_STR 65535

/* ---- CRC-32C (Castagnoli), bit-reflected, table-driven ---- */

static uint32_t crc_table[256];
static bool crc_ready = false;

uint32_t
ml_crc32c(const unsigned char *data, size_t len)
{
	uint32_t	crc = 0xFFFFFFFFu;
	size_t		i;

	if (!crc_ready)
	{
		uint32_t	n;

		for (n = 0; n < 256; n++)
		{
			uint32_t	c = n;
			int			k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
			crc_table[n] = c;
		}
		crc_ready = true;
	}
	for (i = 0; i < len; i++)
		crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

/* ---- writing ---- */

static void
buf_reserve(MlBuffer *b, size_t more)
{
	if (b->len + more > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 1024;
		unsigned char *nd;

		while (cap < b->len + more)
			cap *= 2;
		nd = ml_alloc(cap);
		if (b->len)
			memcpy(nd, b->data, b->len);
		ml_free(b->data);
		b->data = nd;
		b->cap = cap;
	}
}

static void
put_bytes(MlBuffer *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
put_uint(MlBuffer *b, uint64_t v, int width)
{
	unsigned char tmp[8];
	int			i;

	for (i = 0; i < width; i++)
		tmp[i] = (unsigned char) (v >> (8 * i));
	put_bytes(b, tmp, width);
}

#define put_u8(b, v) put_uint(b, (uint64_t) (v), 1)
#define put_u32(b, v) put_uint(b, (uint64_t) (uint32_t) (v), 4)
#define put_i32(b, v) put_uint(b, (uint64_t) (uint32_t) (int32_t) (v), 4)
#define put_u64(b, v) put_uint(b, (uint64_t) (v), 8)

static void
put_f64(MlBuffer *b, double v)
{
	uint64_t	u;

	memcpy(&u, &v, 8);
	put_uint(b, u, 8);
}

static void
put_f64s(MlBuffer *b, const double *v, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		put_f64(b, v[i]);
}

static void
put_str(MlBuffer *b, const char *s)
{
	size_t		len = s ? strlen(s) : 0;

	put_u32(b, len);
	put_bytes(b, s, len);
}

static void
write_params(MlBuffer *b, const MlParams *p)
{
	put_f64(b, p->alpha);
	put_f64(b, p->l1_ratio);
	put_f64(b, p->C);
	put_u8(b, p->fit_intercept);
	put_i32(b, p->max_iter);
	put_f64(b, p->tol);
	put_u8(b, p->criterion);
	put_i32(b, p->max_depth);
	put_i32(b, p->min_samples_split);
	put_i32(b, p->min_samples_leaf);
	put_f64(b, p->max_features);
	put_i32(b, p->n_estimators);
	put_u8(b, p->bootstrap);
	put_f64(b, p->var_smoothing);
	put_i32(b, p->n_neighbors);
	put_u8(b, p->distance_weights);
	put_i32(b, p->n_clusters);
	put_i32(b, p->n_init);
	put_u64(b, p->seed);
	put_u8(b, p->standardize);
}

static void
write_schema(MlBuffer *b, const MlSchema *s)
{
	int			i,
				l;

	put_u32(b, s->ncols);
	for (i = 0; i < s->ncols; i++)
	{
		const MlColumn *c = &s->cols[i];

		put_str(b, c->name);
		put_u8(b, c->kind);
		put_u32(b, c->nlevels);
		for (l = 0; l < c->nlevels; l++)
			put_str(b, c->levels[l]);
		put_u8(b, c->native);
		put_u32(b, c->offset);
		put_u8(b, c->has_impute);
		put_f64(b, c->impute);
	}
	put_u32(b, s->p);
	put_u8(b, s->target != NULL);
	put_str(b, s->target);
	put_u8(b, s->label_kind);
	put_u32(b, s->nclasses);
	for (i = 0; i < s->nclasses; i++)
		put_str(b, s->classes[i]);
	put_u8(b, s->mean != NULL);
	if (s->mean != NULL)
	{
		put_f64s(b, s->mean, s->p);
		put_f64s(b, s->scale, s->p);
	}
}

static void
write_body(MlBuffer *b, const MlModel *m)
{
	int			p = m->p;
	int			t;

	switch (m->algorithm)
	{
		case ML_LINEAR_REGRESSION:
		case ML_RIDGE:
		case ML_LASSO:
		case ML_ELASTIC_NET:
		case ML_LOGISTIC_REGRESSION:
			put_u32(b, m->ncoef);
			put_f64s(b, m->coef, (size_t) m->ncoef * p);
			put_f64s(b, m->intercept, m->ncoef);
			break;
		case ML_GRADIENT_BOOSTING:
			/* the baselines, then the trees (iteration by iteration, an output each) */
			put_u32(b, m->ncoef);
			put_f64s(b, m->intercept, m->ncoef);
			/* FALLTHROUGH */
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
			put_u32(b, m->ntrees);
			for (t = 0; t < m->ntrees; t++)
			{
				const MlTree *tr = &m->trees[t];
				int			i;

				put_u32(b, tr->nnodes);
				for (i = 0; i < tr->nnodes; i++)
					put_i32(b, tr->feature[i]);
				put_f64s(b, tr->threshold, tr->nnodes);
				for (i = 0; i < tr->nnodes; i++)
					put_i32(b, tr->right[i]);
				put_u32(b, tr->nleaves);
				put_u32(b, tr->nvalues);
				put_f64s(b, tr->value, (size_t) tr->nleaves * tr->nvalues);
				/* format 2: each node's flags (where a missing input goes; a split on levels), then the level sets */
				for (i = 0; i < tr->nnodes; i++)
					put_u8(b, tr->flags ? tr->flags[i] : 0);
				for (i = 0; i < tr->nnodes; i++)
					if (tr->flags && (tr->flags[i] & ML_SPLIT_LEVELS))
					{
						int			w;

						for (w = 0; w < ML_MAX_LEVEL_SPLIT / 64; w++)
							put_uint(b, tr->levels_left[(size_t) i * (ML_MAX_LEVEL_SPLIT / 64) + w], 8);
					}
			}
			break;
		case ML_NAIVE_BAYES:
			put_f64s(b, m->theta, (size_t) m->nclasses * p);
			put_f64s(b, m->var, (size_t) m->nclasses * p);
			put_f64s(b, m->log_prior, m->nclasses);
			break;
		case ML_KNN:
			put_u32(b, m->ntrain);
			put_f64s(b, m->train_x, (size_t) m->ntrain * p);
			put_f64s(b, m->train_y, m->ntrain);
			break;
		case ML_KMEANS:
			put_u32(b, m->nclusters);
			put_f64s(b, m->centers, (size_t) m->nclusters * p);
			break;
	}
}

void
ml_artifact_write(const MlModel *m, const MlSchema *s, MlBuffer *out)
{
	MlBuffer	payload = {NULL, 0, 0};
	uint32_t	crc;

	put_u8(&payload, m->algorithm);
	put_u8(&payload, m->task);
	put_u32(&payload, m->p);
	put_u32(&payload, m->nclasses);
	write_params(&payload, &m->params);
	write_schema(&payload, s);
	write_body(&payload, m);
	if (payload.len > 0xFFFFFFFFu - HEADER_LEN)
		ml_error(ML_ERR_INPUT, "the model is too large to store (%zu bytes)", payload.len);
	crc = ml_crc32c(payload.data, payload.len);
	memset(out, 0, sizeof(*out));
	put_bytes(out, ML_ARTIFACT_MAGIC, 5);
	put_u8(out, ML_ARTIFACT_FORMAT);
	put_u8(out, 0);
	put_u8(out, 0);
	put_u32(out, payload.len);
	put_u32(out, crc);
	put_bytes(out, payload.data, payload.len);
	ml_free(payload.data);
}

/* ---- reading ---- */

typedef struct Reader
{
	const unsigned char *p;
	size_t		len;
	size_t		pos;
	unsigned	format;			/* the artifact's, from its header */
} Reader;

static void
need(Reader *r, size_t n, const char *what)
{
	if (n > r->len - r->pos)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is truncated (reading %s)", what);
}

static uint64_t
get_uint(Reader *r, int width, const char *what)
{
	uint64_t	v = 0;
	int			i;

	need(r, width, what);
	for (i = 0; i < width; i++)
		v |= (uint64_t) r->p[r->pos + i] << (8 * i);
	r->pos += width;
	return v;
}

static uint32_t
get_u32(Reader *r, const char *what)
{
	return (uint32_t) get_uint(r, 4, what);
}

static int32_t
get_i32(Reader *r, const char *what)
{
	return (int32_t) (uint32_t) get_uint(r, 4, what);
}

static unsigned
get_u8(Reader *r, const char *what)
{
	return (unsigned) get_uint(r, 1, what);
}

static bool
get_bool(Reader *r, const char *what)
{
	unsigned	v = get_u8(r, what);

	if (v > 1)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%s is %u)", what, v);
	return v == 1;
}

static double
get_f64(Reader *r, const char *what)
{
	uint64_t	u = get_uint(r, 8, what);
	double		v;

	memcpy(&v, &u, 8);
	return v;
}

/* n doubles; n is checked against what is left before anything is allocated */
static double *
get_f64s(Reader *r, size_t n, const char *what)
{
	double	   *v;
	size_t		i;

	if (n > (r->len - r->pos) / 8)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is truncated (reading %s)", what);
	v = ml_alloc_array(n ? n : 1, sizeof(double));
	for (i = 0; i < n; i++)
		v[i] = get_f64(r, what);
	return v;
}

static char *
get_str(Reader *r, const char *what)
{
	uint32_t	len = get_u32(r, what);
	char	   *s;

	if (len > MAX_STR)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%s is %u bytes long)", what, len);
	need(r, len, what);
	if (memchr(r->p + r->pos, '\0', len) != NULL)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%s has a NUL byte)", what);
	s = ml_alloc(len + 1);
	memcpy(s, r->p + r->pos, len);
	s[len] = '\0';
	r->pos += len;
	return s;
}

static uint32_t
get_count(Reader *r, uint32_t max, const char *what)
{
	uint32_t	v = get_u32(r, what);

	if (v > max)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%u %s)", v, what);
	return v;
}

static int
get_int_in(Reader *r, int lo, int hi, const char *what)
{
	int32_t		v = get_i32(r, what);

	if (v < lo || v > hi)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%s is %d)", what, v);
	return v;
}

static void
read_params(Reader *r, MlParams *p)
{
	p->alpha = get_f64(r, "alpha");
	p->l1_ratio = get_f64(r, "l1_ratio");
	p->C = get_f64(r, "C");
	p->fit_intercept = get_bool(r, "fit_intercept");
	p->max_iter = get_i32(r, "max_iter");
	p->tol = get_f64(r, "tol");
	p->criterion = (MlCriterion) get_u8(r, "criterion");
	if (p->criterion > ML_SQUARED_ERROR)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (criterion %d)", (int) p->criterion);
	p->max_depth = get_i32(r, "max_depth");
	p->min_samples_split = get_i32(r, "min_samples_split");
	p->min_samples_leaf = get_i32(r, "min_samples_leaf");
	p->max_features = get_f64(r, "max_features");
	p->n_estimators = get_i32(r, "n_estimators");
	p->bootstrap = get_bool(r, "bootstrap");
	p->var_smoothing = get_f64(r, "var_smoothing");
	p->n_neighbors = get_i32(r, "n_neighbors");
	p->distance_weights = get_bool(r, "distance_weights");
	p->n_clusters = get_i32(r, "n_clusters");
	p->n_init = get_i32(r, "n_init");
	p->seed = get_uint(r, 8, "seed");
	p->standardize = get_bool(r, "standardize");
	p->standardize_set = true;
}

static MlSchema *
read_schema(Reader *r, const MlModel *m)
{
	MlSchema   *s = ml_alloc(sizeof(MlSchema));
	int			next = 0;
	int			i,
				l;

	s->ncols = (int) get_count(r, MAX_P, "columns");
	if (s->ncols < 1)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (no columns)");
	s->cols = ml_alloc_array(s->ncols, sizeof(MlColumn));
	for (i = 0; i < s->ncols; i++)
	{
		MlColumn   *c = &s->cols[i];

		c->name = get_str(r, "a column name");
		c->kind = (MlColumnKind) get_u8(r, "a column kind");
		if (c->kind != ML_COL_NUMERIC && c->kind != ML_COL_CATEGORICAL)
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (column kind %d)", (int) c->kind);
		c->nlevels = (int) get_count(r, MAX_P, "levels");
		if ((c->kind == ML_COL_CATEGORICAL) != (c->nlevels > 0))
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (column \"%s\" has %d levels)",
					 c->name, c->nlevels);
		if (c->nlevels > 0)
		{
			/* a level is at least its 4-byte length */
			need(r, (size_t) c->nlevels * 4, "levels");
			c->levels = ml_alloc_array(c->nlevels, sizeof(char *));
			for (l = 0; l < c->nlevels; l++)
				c->levels[l] = get_str(r, "a level");
		}
		c->native = r->format >= 2 && get_bool(r, "a level-number flag");
		if (c->native && !(c->kind == ML_COL_CATEGORICAL && c->nlevels < ML_MAX_LEVEL_SPLIT))
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (column \"%s\" as a level number)", c->name);
		c->offset = (int) get_u32(r, "a column offset");
		if (c->offset != next)
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (column \"%s\" at input %d, not %d)",
					 c->name, c->offset, next);
		next += c->kind == ML_COL_CATEGORICAL && !c->native ? c->nlevels : 1;
		if (next > MAX_P)
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (too many inputs)");
		c->has_impute = get_bool(r, "an imputation flag");
		c->impute = get_f64(r, "an imputed value");
		/* NaN: kept missing (gradient boosting), of either kind */
		if (c->has_impute && c->kind == ML_COL_CATEGORICAL && !isnan(c->impute) &&
			!(c->impute >= 0 && c->impute < c->nlevels && c->impute == floor(c->impute)))
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (imputed level of \"%s\")", c->name);
	}
	s->p = (int) get_u32(r, "inputs");
	if (s->p != next || s->p != m->p)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d inputs in the schema, %d in the columns, %d in the model)",
				 s->p, next, m->p);
	if (get_bool(r, "the target flag"))
		s->target = get_str(r, "the target name");
	else
	{
		ml_free(get_str(r, "the target name"));
		s->target = NULL;
	}
	if ((s->target == NULL) != (m->task == ML_CLUSTERING))
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (target of a %s model)", ml_task_name(m->task));
	s->label_kind = (MlLabelKind) get_u8(r, "the label kind");
	s->nclasses = (int) get_count(r, MAX_CLASSES, "classes");
	if (s->nclasses != m->nclasses)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d class labels for %d classes)",
				 s->nclasses, m->nclasses);
	if (m->task == ML_CLASSIFICATION &&
		s->label_kind != ML_LABEL_TEXT && s->label_kind != ML_LABEL_NUMBER && s->label_kind != ML_LABEL_BOOL)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (label kind %d)", (int) s->label_kind);
	if (s->nclasses > 0)
	{
		need(r, (size_t) s->nclasses * 4, "class labels");
		s->classes = ml_alloc_array(s->nclasses, sizeof(char *));
		for (i = 0; i < s->nclasses; i++)
			s->classes[i] = get_str(r, "a class label");
	}
	if (get_bool(r, "the standardisation flag"))
	{
		s->mean = get_f64s(r, s->p, "means");
		s->scale = get_f64s(r, s->p, "scales");
	}
	return s;
}

static void
read_tree(Reader *r, MlModel *m, MlTree *t)
{
	int			i;

	t->nnodes = (int) get_count(r, 0x7FFFFFFF, "tree nodes");
	if (t->nnodes < 1)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (a tree without nodes)");
	/* each node takes 16 bytes: refuse counts the rest cannot hold before allocating */
	need(r, (size_t) t->nnodes * 16, "tree nodes");
	t->feature = ml_alloc_array(t->nnodes, sizeof(int32_t));
	t->right = ml_alloc_array(t->nnodes, sizeof(int32_t));
	for (i = 0; i < t->nnodes; i++)
		t->feature[i] = get_int_in(r, -1, m->p - 1, "a split feature");
	t->threshold = get_f64s(r, t->nnodes, "thresholds");
	for (i = 0; i < t->nnodes; i++)
		t->right[i] = get_i32(r, "a right child");
	t->nleaves = (int) get_count(r, (uint32_t) t->nnodes, "tree leaves");
	t->nvalues = (int) get_u32(r, "values per leaf");
	if (t->nvalues != (m->task == ML_CLASSIFICATION && m->algorithm != ML_GRADIENT_BOOSTING ? m->nclasses : 1))
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d values per leaf)", t->nvalues);
	t->value = get_f64s(r, (size_t) t->nleaves * t->nvalues, "leaf values");
	t->flags = NULL;
	t->levels_left = NULL;
	if (r->format >= 2)
	{
		int			nlevel_splits = 0;

		need(r, (size_t) t->nnodes, "split flags");
		t->flags = ml_alloc_array(t->nnodes, sizeof(uint8_t));
		for (i = 0; i < t->nnodes; i++)
		{
			t->flags[i] = get_u8(r, "split flags");
			if (t->flags[i] > (ML_SPLIT_MISSING_LEFT | ML_SPLIT_LEVELS) ||
				(t->feature[i] < 0 && t->flags[i] != 0))
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (node %d has flags %d)", i, t->flags[i]);
			nlevel_splits += (t->flags[i] & ML_SPLIT_LEVELS) != 0;
		}
		if (nlevel_splits > 0)
		{
			need(r, (size_t) nlevel_splits * (ML_MAX_LEVEL_SPLIT / 8), "level sets");
			t->levels_left = ml_alloc_array((size_t) t->nnodes * (ML_MAX_LEVEL_SPLIT / 64), sizeof(uint64_t));
			for (i = 0; i < t->nnodes; i++)
				if (t->flags[i] & ML_SPLIT_LEVELS)
				{
					int			w;

					for (w = 0; w < ML_MAX_LEVEL_SPLIT / 64; w++)
						t->levels_left[(size_t) i * (ML_MAX_LEVEL_SPLIT / 64) + w] = get_uint(r, 8, "a level set");
				}
		}
	}
	for (i = 0; i < t->nnodes; i++)
	{
		if (t->feature[i] < 0)
		{
			if (t->right[i] < 0 || t->right[i] >= t->nleaves)
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (leaf %d has value row %d of %d)",
						 i, t->right[i], t->nleaves);
		}
		else if (i + 1 >= t->nnodes || t->right[i] <= i + 1 || t->right[i] >= t->nnodes)
			ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (node %d has children %d and %d of %d)",
					 i, i + 1, t->right[i], t->nnodes);
	}
}

static void
read_body(Reader *r, MlModel *m)
{
	int			p = m->p;
	int			i;

	switch (m->algorithm)
	{
		case ML_LINEAR_REGRESSION:
		case ML_RIDGE:
		case ML_LASSO:
		case ML_ELASTIC_NET:
		case ML_LOGISTIC_REGRESSION:
			m->ncoef = (int) get_u32(r, "weight vectors");
			if (m->ncoef != (m->algorithm == ML_LOGISTIC_REGRESSION && m->nclasses > 2 ? m->nclasses : 1))
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d weight vectors)", m->ncoef);
			m->coef = get_f64s(r, (size_t) m->ncoef * p, "weights");
			m->intercept = get_f64s(r, m->ncoef, "intercepts");
			break;
		case ML_GRADIENT_BOOSTING:
			m->ncoef = (int) get_u32(r, "outputs");
			if (m->ncoef != (m->task == ML_CLASSIFICATION && m->nclasses > 2 ? m->nclasses : 1))
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d outputs)", m->ncoef);
			m->intercept = get_f64s(r, m->ncoef, "baselines");
			/* FALLTHROUGH */
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
			m->ntrees = (int) get_count(r, 1000000, "trees");
			if ((m->ntrees < 1 && m->algorithm != ML_GRADIENT_BOOSTING) ||
				(m->algorithm == ML_DECISION_TREE && m->ntrees != 1) ||
				(m->algorithm == ML_GRADIENT_BOOSTING && m->ntrees % m->ncoef != 0))
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d trees)", m->ntrees);
			need(r, (size_t) m->ntrees * 12, "trees");
			m->trees = ml_alloc_array(m->ntrees, sizeof(MlTree));
			for (i = 0; i < m->ntrees; i++)
				read_tree(r, m, &m->trees[i]);
			break;
		case ML_NAIVE_BAYES:
			m->theta = get_f64s(r, (size_t) m->nclasses * p, "class means");
			m->var = get_f64s(r, (size_t) m->nclasses * p, "class variances");
			m->log_prior = get_f64s(r, m->nclasses, "class priors");
			break;
		case ML_KNN:
			m->ntrain = (int) get_count(r, 0x7FFFFFFF, "training rows");
			if (m->ntrain < 1 || m->params.n_neighbors < 1 || m->params.n_neighbors > m->ntrain)
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d neighbours of %d rows)",
						 m->params.n_neighbors, m->ntrain);
			m->train_x = get_f64s(r, (size_t) m->ntrain * p, "training rows");
			m->train_y = get_f64s(r, m->ntrain, "training targets");
			if (m->task == ML_CLASSIFICATION)
				for (i = 0; i < m->ntrain; i++)
					if (!(m->train_y[i] >= 0 && m->train_y[i] < m->nclasses && m->train_y[i] == floor(m->train_y[i])))
						ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (class of training row %d)", i);
			ml_knn_norms(m);
			break;
		case ML_KMEANS:
			m->nclusters = (int) get_count(r, 0x7FFFFFFF, "clusters");
			if (m->nclusters < 1)
				ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (no clusters)");
			m->centers = get_f64s(r, (size_t) m->nclusters * p, "cluster centres");
			break;
	}
}

void
ml_artifact_read(const unsigned char *data, size_t len, MlModel **mp, MlSchema **sp)
{
	Reader		r = {data, len, 0, 0};
	MlModel    *m;
	uint32_t	plen,
				crc;
	unsigned	format;

	if (len < HEADER_LEN || memcmp(data, ML_ARTIFACT_MAGIC, 5) != 0)
		ml_error(ML_ERR_ARTIFACT, "not a dwc model artifact");
	format = data[5];
	if (format < ML_ARTIFACT_FORMAT_OLDEST || format > ML_ARTIFACT_FORMAT || data[6] != 0 || data[7] != 0)
		ml_error(ML_ERR_ARTIFACT, "unsupported model artifact format %u (this dwc reads formats %d to %d)",
				 format, ML_ARTIFACT_FORMAT_OLDEST, ML_ARTIFACT_FORMAT);
	r.format = format;
	r.pos = 8;
	plen = get_u32(&r, "the header");
	crc = get_u32(&r, "the header");
	if (plen != len - HEADER_LEN)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is truncated (%zu payload bytes, %u expected)",
				 len - HEADER_LEN, plen);
	if (ml_crc32c(data + HEADER_LEN, plen) != crc)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (checksum mismatch)");

	m = ml_alloc(sizeof(MlModel));
	m->algorithm = (MlAlgorithm) get_u8(&r, "the algorithm");
	if ((int) m->algorithm < 1 || (int) m->algorithm > ML_ALGORITHM_MAX)
		ml_error(ML_ERR_ARTIFACT, "the model artifact has an unknown algorithm (%d)", (int) m->algorithm);
	m->task = (MlTask) get_u8(&r, "the task");
	if (!ml_algorithm_supports(m->algorithm, m->task))
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%s for task %d)",
				 ml_algorithm_name(m->algorithm), (int) m->task);
	m->p = (int) get_count(&r, MAX_P, "inputs");
	if (m->p < 1)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (no inputs)");
	m->nclasses = (int) get_count(&r, MAX_CLASSES, "classes");
	if ((m->task == ML_CLASSIFICATION) != (m->nclasses >= 2) || (m->task != ML_CLASSIFICATION && m->nclasses != 0))
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%d classes for %s)",
				 m->nclasses, ml_task_name(m->task));
	read_params(&r, &m->params);
	*sp = read_schema(&r, m);
	read_body(&r, m);
	if (r.pos != r.len)
		ml_error(ML_ERR_ARTIFACT, "the model artifact is corrupted (%zu bytes after the model)", r.len - r.pos);
	*mp = m;
}
