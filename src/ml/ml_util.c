/*-------------------------------------------------------------------------
 *
 * ml_util.c
 *		The ML core's hooks, random numbers, names and defaults.
 *
 * The random generator is xoshiro256** seeded through splitmix64 (public
 * domain algorithms by Blackman and Vigna): fast, and the same numbers on
 * every platform, so that a seed gives the same split and the same model
 * bytes anywhere.
 *
 * src/ml/ml_util.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_core.h"

void	   *(*ml_alloc_hook) (size_t size) = NULL;
void		(*ml_free_hook) (void *p) = NULL;
void		(*ml_error_hook) (MlErrorKind kind, const char *message) = NULL;
void		(*ml_interrupt_hook) (void) = NULL;
void		(*ml_progress_hook) (const char *phase, long done, long total) = NULL;

void *
ml_alloc(size_t size)
{
	return ml_alloc_hook(size == 0 ? 1 : size);
}

void *
ml_alloc_array(size_t n, size_t size)
{
	if (size != 0 && n > ((size_t) 1 << 40) / size)
		ml_error(ML_ERR_INPUT, "cannot allocate %zu items of %zu bytes", n, size);
	return ml_alloc(n * size);
}

void
ml_free(void *p)
{
	if (p != NULL)
		ml_free_hook(p);
}

char *
ml_strdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *d = ml_alloc(len + 1);

	memcpy(d, s, len + 1);
	return d;
}

void
ml_error(MlErrorKind kind, const char *fmt,...)
{
	char		buf[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ml_error_hook(kind, buf);
	/* the hook does not return; should it, stop rather than go on with bad state */
	abort();
}

/* ---- random numbers ---- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void
ml_rng_seed(MlRng *rng, uint64_t seed)
{
	uint64_t	x = seed;
	int			i;

	for (i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
ml_rng_next(MlRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
ml_rng_double(MlRng *rng)
{
	return (double) (ml_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* unbiased, by rejection (Lemire's multiply-shift) */
uint32_t
ml_rng_below(MlRng *rng, uint32_t n)
{
	uint64_t	m;
	uint32_t	lo;

	if (n <= 1)
		return 0;
	m = (uint64_t) (uint32_t) (ml_rng_next(rng) >> 32) * n;
	lo = (uint32_t) m;
	if (lo < n)
	{
		uint32_t	threshold = (uint32_t) (-n) % n;

		while (lo < threshold)
		{
			m = (uint64_t) (uint32_t) (ml_rng_next(rng) >> 32) * n;
			lo = (uint32_t) m;
		}
	}
	return (uint32_t) (m >> 32);
}

/* Fisher-Yates */
void
ml_shuffle(MlRng *rng, int *a, int n)
{
	int			i;

	for (i = n - 1; i > 0; i--)
	{
		int			j = (int) ml_rng_below(rng, (uint32_t) i + 1);
		int			t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* ---- names ---- */

static const char *const algorithm_names[ML_ALGORITHM_MAX + 1] = {
	NULL, "linear_regression", "ridge", "lasso", "elastic_net", "logistic_regression",
	"decision_tree", "random_forest", "naive_bayes", "knn", "kmeans", "gradient_boosting"
};

const char *
ml_algorithm_name(MlAlgorithm a)
{
	if ((int) a < 1 || (int) a > ML_ALGORITHM_MAX)
		return "unknown";
	return algorithm_names[a];
}

bool
ml_algorithm_from_name(const char *name, MlAlgorithm *a)
{
	int			i;

	for (i = 1; i <= ML_ALGORITHM_MAX; i++)
	{
		if (strcmp(name, algorithm_names[i]) == 0)
		{
			*a = (MlAlgorithm) i;
			return true;
		}
	}
	return false;
}

const char *
ml_task_name(MlTask t)
{
	switch (t)
	{
		case ML_CLASSIFICATION:
			return "classification";
		case ML_REGRESSION:
			return "regression";
		case ML_CLUSTERING:
			return "clustering";
	}
	return "unknown";
}

bool
ml_algorithm_supports(MlAlgorithm a, MlTask t)
{
	switch (a)
	{
		case ML_LINEAR_REGRESSION:
		case ML_RIDGE:
		case ML_LASSO:
		case ML_ELASTIC_NET:
			return t == ML_REGRESSION;
		case ML_LOGISTIC_REGRESSION:
		case ML_NAIVE_BAYES:
			return t == ML_CLASSIFICATION;
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
		case ML_GRADIENT_BOOSTING:
		case ML_KNN:
			return t == ML_CLASSIFICATION || t == ML_REGRESSION;
		case ML_KMEANS:
			return t == ML_CLUSTERING;
	}
	return false;
}

void
ml_params_defaults(MlParams *p)
{
	memset(p, 0, sizeof(*p));
	p->alpha = 1.0;
	p->l1_ratio = 0.5;
	p->C = 1.0;
	p->fit_intercept = true;
	p->max_iter = 0;			/* per algorithm: 1000 (CD), 100 (L-BFGS), 300 (k-means) */
	p->tol = -1;				/* per algorithm */
	p->criterion = 0;
	p->max_depth = 0;
	p->min_samples_split = 2;
	p->min_samples_leaf = 1;
	p->max_features = 0;
	p->n_estimators = 100;
	p->bootstrap = true;
	/* scikit-learn's HistGradientBoosting */
	p->learning_rate = 0.1;
	p->max_leaf_nodes = 31;
	p->l2_regularization = 0;
	p->max_bins = 255;
	p->early_stopping = -1;
	p->validation_fraction = 0.1;
	p->n_iter_no_change = 10;
	p->native_categorical = true;
	p->var_smoothing = 1e-9;
	p->n_neighbors = 5;
	p->distance_weights = false;
	p->n_clusters = 8;
	p->n_init = 1;
	p->seed = 42;
	p->standardize = false;
	p->standardize_set = false;
}
