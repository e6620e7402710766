/*-------------------------------------------------------------------------
 *
 * train.c
 *		Training: from encoded data and hyperparameters to a model.
 *
 * src/ml/train.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "ml/ml_core.h"

MlModel *
ml_train(const MlData *d, MlAlgorithm algorithm, MlTask task, int nclasses, const MlParams *params)
{
	MlModel    *m;

	if (!ml_algorithm_supports(algorithm, task))
		ml_error(ML_ERR_INPUT, "%s does not do %s", ml_algorithm_name(algorithm), ml_task_name(task));
	if (d->n < 1)
		ml_error(ML_ERR_INPUT, "the training data has no rows");
	if (d->p < 1)
		ml_error(ML_ERR_INPUT, "the training data has no feature columns");
	if (task == ML_CLASSIFICATION && nclasses < 2)
		ml_error(ML_ERR_INPUT, "the target has %d class; classification needs at least 2", nclasses);
	m = ml_alloc(sizeof(MlModel));
	m->algorithm = algorithm;
	m->task = task;
	m->p = d->p;
	m->nclasses = task == ML_CLASSIFICATION ? nclasses : 0;
	m->params = *params;
	switch (algorithm)
	{
		case ML_LINEAR_REGRESSION:
		case ML_RIDGE:
		case ML_LASSO:
		case ML_ELASTIC_NET:
			ml_train_linear(m, d);
			break;
		case ML_LOGISTIC_REGRESSION:
			ml_train_logistic(m, d);
			break;
		case ML_DECISION_TREE:
			ml_train_tree(m, d);
			break;
		case ML_RANDOM_FOREST:
			ml_train_forest(m, d);
			break;
		case ML_NAIVE_BAYES:
			ml_train_naive_bayes(m, d);
			break;
		case ML_KNN:
			ml_train_knn(m, d);
			break;
		case ML_KMEANS:
			ml_train_kmeans(m, d);
			break;
		case ML_GRADIENT_BOOSTING:
			ml_train_boosting(m, d);
			break;
	}
	return m;
}
