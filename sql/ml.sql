-- Machine learning: the classic datasets of test/data on fixed seeded splits, planted
-- answers on synthetic data, determinism, every error of bad input, deployment.
\set VERBOSITY terse
\set SHOW_CONTEXT never

CREATE TABLE iris (sepal_length_cm float8, sepal_width_cm float8, petal_length_cm float8, petal_width_cm float8,
                   species text);
\copy iris FROM 'test/data/iris.csv' CSV HEADER
CREATE TABLE wine (alcohol float8, malic_acid float8, ash float8, alcalinity_of_ash float8, magnesium float8,
                   total_phenols float8, flavanoids float8, nonflavanoid_phenols float8, proanthocyanins float8,
                   color_intensity float8, hue float8, od280_od315_of_diluted_wines float8, proline float8,
                   cultivar text);
\copy wine FROM 'test/data/wine.csv' CSV HEADER
CREATE TABLE breast_cancer (mean_radius float8, mean_texture float8, mean_perimeter float8, mean_area float8,
    mean_smoothness float8, mean_compactness float8, mean_concavity float8, mean_concave_points float8,
    mean_symmetry float8, mean_fractal_dimension float8, radius_error float8, texture_error float8,
    perimeter_error float8, area_error float8, smoothness_error float8, compactness_error float8,
    concavity_error float8, concave_points_error float8, symmetry_error float8, fractal_dimension_error float8,
    worst_radius float8, worst_texture float8, worst_perimeter float8, worst_area float8, worst_smoothness float8,
    worst_compactness float8, worst_concavity float8, worst_concave_points float8, worst_symmetry float8,
    worst_fractal_dimension float8, diagnosis text);
\copy breast_cancer FROM 'test/data/breast_cancer.csv' CSV HEADER
CREATE TABLE diabetes (age float8, sex float8, bmi float8, bp float8, s1 float8, s2 float8, s3 float8, s4 float8,
                       s5 float8, s6 float8, progression float8);
\copy diabetes FROM 'test/data/diabetes.csv' CSV HEADER
SELECT (SELECT count(*) FROM iris) AS iris, (SELECT count(*) FROM wine) AS wine,
       (SELECT count(*) FROM breast_cancer) AS breast_cancer, (SELECT count(*) FROM diabetes) AS diabetes;

-- ---- classifiers on the default split (test_size 0.25, seed 42, stratified) -------------
-- The accuracy each reaches on its test rows is its documented bar (docs/ml.md).
CREATE FUNCTION pg_temp.train(name text, task text, algorithm text, hp jsonb, source text, target text,
                              options jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dwc.ml_create_model(name, task, algorithm, hp);
    RETURN dwc.ml_train(name, source, target => target, options => options);
END;
$$;

SELECT m.name, m.bar, r->>'train_rows' AS train, r->>'test_rows' AS test,
       round((r->'metrics'->>'accuracy')::numeric, 3) AS accuracy,
       (r->'metrics'->>'accuracy')::float8 >= m.bar AS reaches_bar,
       r->>'deployed_version' AS deployed
  FROM (VALUES ('iris_logistic', 'logistic_regression', '{}'::jsonb, 'iris', 'species', 0.91),
               ('iris_tree', 'decision_tree', '{}', 'iris', 'species', 0.91),
               ('iris_forest', 'random_forest', '{"n_estimators": 50}', 'iris', 'species', 0.94),
               ('iris_bayes', 'naive_bayes', '{}', 'iris', 'species', 0.91),
               ('iris_knn', 'knn', '{}', 'iris', 'species', 0.94),
               ('wine_logistic', 'logistic_regression', '{}', 'wine', 'cultivar', 0.99),
               ('wine_tree', 'decision_tree', '{}', 'wine', 'cultivar', 0.95),
               ('wine_forest', 'random_forest', '{"n_estimators": 50}', 'wine', 'cultivar', 0.99),
               ('wine_bayes', 'naive_bayes', '{}', 'wine', 'cultivar', 0.95),
               ('wine_knn', 'knn', '{}', 'wine', 'cultivar', 0.95),
               ('cancer_logistic', 'logistic_regression', '{}', 'breast_cancer', 'diagnosis', 0.98),
               ('cancer_tree', 'decision_tree', '{"max_depth": 5}', 'breast_cancer', 'diagnosis', 0.93),
               ('cancer_forest', 'random_forest', '{"n_estimators": 50}', 'breast_cancer', 'diagnosis', 0.97),
               ('cancer_bayes', 'naive_bayes', '{}', 'breast_cancer', 'diagnosis', 0.94),
               ('cancer_knn', 'knn', '{}', 'breast_cancer', 'diagnosis', 0.97),
               ('iris_boost', 'gradient_boosting', '{}', 'iris', 'species', 0.97),
               ('wine_boost', 'gradient_boosting', '{}', 'wine', 'cultivar', 0.97),
               ('cancer_boost', 'gradient_boosting', '{}', 'breast_cancer', 'diagnosis', 0.97))
       AS m(name, algorithm, hp, source, target, bar),
       LATERAL pg_temp.train(m.name, 'classification', m.algorithm, m.hp, m.source, m.target) r;

-- every classification metric, on one model
SELECT key, CASE WHEN jsonb_typeof(value) = 'number' THEN round(value::numeric, 3)::text ELSE value::text END AS value
  FROM jsonb_each((SELECT metrics FROM dwc.ml_model_versions v JOIN dwc.ml_models m ON m.id = v.model_id
                    WHERE m.name = 'cancer_logistic'))
 ORDER BY key;

-- regressors on diabetes: R^2 on the test rows
SELECT m.name, round((r->'metrics'->>'r2')::numeric, 3) AS r2, round((r->'metrics'->>'rmse')::numeric, 1) AS rmse,
       (r->'metrics'->>'r2')::float8 >= m.bar AS reaches_bar
  FROM (VALUES ('db_linear', 'linear_regression', '{}'::jsonb, 0.55),
               ('db_ridge', 'ridge', '{"alpha": 0.5}', 0.54),
               ('db_lasso', 'lasso', '{"alpha": 0.1}', 0.55),
               ('db_enet', 'elastic_net', '{"alpha": 0.01, "l1_ratio": 0.7}', 0.54),
               ('db_tree', 'decision_tree', '{"max_depth": 3}', 0.41),
               ('db_forest', 'random_forest', '{"n_estimators": 50, "max_depth": 5}', 0.47),
               ('db_knn', 'knn', '{"n_neighbors": 10}', 0.44),
               ('db_boost', 'gradient_boosting', '{}', 0.39))
       AS m(name, algorithm, hp, bar),
       LATERAL pg_temp.train(m.name, 'regression', m.algorithm, m.hp, 'diabetes', 'progression') r;

-- ---- planted answers ---------------------------------------------------------------------
-- y = 3 + 2 x1 - 1.5 x2 + 0.25 x3 exactly: least squares recovers it to 1e-6
CREATE TABLE planted AS
SELECT x1, x2, x3, 3 + 2 * x1 - 1.5 * x2 + 0.25 * x3 AS y
  FROM (SELECT sin(i) * 10 AS x1, cos(i * 0.7) * 5 AS x2, (i % 17)::float8 AS x3 FROM generate_series(1, 300) i) s;
SELECT dwc.ml_create_model('planted', 'regression', 'linear_regression') ->> 'name' AS created;
SELECT (r->'metrics'->>'r2')::float8 > 0.999999 AS perfect_fit
  FROM dwc.ml_train('planted', 'planted', target => 'y') r;
SELECT abs(b - 3) < 1e-6 AS intercept,
       abs(dwc.ml_predict_array('planted', '{1,0,0}') - b - 2) < 1e-6 AS w1,
       abs(dwc.ml_predict_array('planted', '{0,1,0}') - b + 1.5) < 1e-6 AS w2,
       abs(dwc.ml_predict_array('planted', '{0,0,1}') - b - 0.25) < 1e-6 AS w3
  FROM (SELECT dwc.ml_predict_array('planted', '{0,0,0}') AS b) s;

-- three separated clusters: k-means puts each in a cluster of its own
CREATE TABLE blobs AS
SELECT c, cx + 0.3 * sin(i * 1.7) AS x, cy + 0.3 * cos(i * 2.3) AS y
  FROM (VALUES (0, 0.0, 0.0), (1, 10.0, 0.0), (2, 5.0, 8.0)) AS centres(c, cx, cy), generate_series(1, 60) i;
SELECT dwc.ml_create_model('blobs', 'clustering', 'kmeans', '{"n_clusters": 3, "n_init": 3}') ->> 'name' AS created;
SELECT (r->'metrics'->>'silhouette')::float8 > 0.9 AS well_separated, r->'metrics'->>'clusters' AS clusters
  FROM dwc.ml_train('blobs', 'SELECT x, y FROM blobs', options => '{"test_size": 0}') r;
SELECT count(DISTINCT c) AS true_clusters, count(DISTINCT k) AS found,
       count(DISTINCT (c, k)) AS pairs    -- 3: every true cluster maps to one found cluster
  FROM (SELECT c, dwc.ml_predict('blobs', jsonb_build_object('x', x, 'y', y)) AS k FROM blobs) s;

-- gradient boosting: a class that no line separates (the sign of x1 * x2, with noise-free
-- margins), and a regression target that is a staircase: trees on histograms get both, a
-- linear model gets neither
CREATE TABLE quadrants AS
SELECT x1, x2, CASE WHEN x1 * x2 > 0 THEN 'same' ELSE 'opposite' END AS sign, floor(x1 / 2) * 3 + (x2 > 0)::int AS steps
  FROM (SELECT sin(i * 1.3) * 10 AS x1, cos(i * 0.77) * 10 AS x2 FROM generate_series(1, 2000) i) s
 WHERE abs(x1) > 0.5 AND abs(x2) > 0.5;
SELECT m.name, CASE WHEN m.algorithm = 'gradient_boosting' THEN (r->'metrics'->>'accuracy')::float8 > 0.97
                    ELSE (r->'metrics'->>'accuracy')::float8 < 0.7 END AS as_expected
  FROM (VALUES ('quad_boost', 'gradient_boosting'), ('quad_linear', 'logistic_regression')) AS m(name, algorithm),
       LATERAL pg_temp.train(m.name, 'classification', m.algorithm, '{}', 'SELECT x1, x2, sign FROM quadrants', 'sign') r;
SELECT (r->'metrics'->>'r2')::float8 > 0.99 AS staircase
  FROM pg_temp.train('steps_boost', 'regression', 'gradient_boosting', '{"max_iter": 300}', 'SELECT x1, x2, steps FROM quadrants', 'steps') r;
-- probabilities of three classes sum to 1; a fixed number of iterations, or early stopping
SELECT round(sum(value::numeric), 6) AS total, count(*) AS classes
  FROM jsonb_each_text(dwc.ml_predict_proba('iris_boost', '{"sepal_length_cm": 6.1, "sepal_width_cm": 2.8, "petal_length_cm": 4.7, "petal_width_cm": 1.2}'));
SELECT r->'metrics'->>'iterations' AS iterations, r->'hyperparameters'->>'early_stopping' AS early_stopping
  FROM pg_temp.train('few_boost', 'classification', 'gradient_boosting', '{"max_iter": 5}', 'iris', 'species') r;
SELECT (r->'metrics'->>'iterations')::int < 300 AS stopped_early
  FROM pg_temp.train('early_boost', 'classification', 'gradient_boosting',
                     '{"max_iter": 300, "early_stopping": true, "n_iter_no_change": 5}', 'breast_cancer', 'diagnosis') r;

-- ---- determinism: the same data, spec and seed give the same bytes ----------------------
SELECT dwc.ml_create_model('det_forest', 'classification', 'random_forest', '{"n_estimators": 10, "random_state": 7}') ->> 'name';
SELECT dwc.ml_train('det_forest', 'iris', target => 'species', deploy => 'never') ->> 'version' AS v1,
       dwc.ml_train('det_forest', 'iris', target => 'species', deploy => 'never') ->> 'version' AS v2;
SELECT count(DISTINCT artifact) AS distinct_artifacts, count(*) AS versions, min(length(artifact)) > 1000 AS sizeable
  FROM dwc.ml_model_versions v JOIN dwc.ml_models m ON m.id = v.model_id WHERE m.name = 'det_forest';
-- another seed, another model
SELECT dwc.ml_update_model('det_forest', '{"n_estimators": 10, "random_state": 8}') ->> 'name';
SELECT dwc.ml_train('det_forest', 'iris', target => 'species', deploy => 'never') ->> 'version' AS v3;
SELECT count(DISTINCT artifact) AS distinct_artifacts
  FROM dwc.ml_model_versions v JOIN dwc.ml_models m ON m.id = v.model_id WHERE m.name = 'det_forest';

-- ---- predictions -----------------------------------------------------------------------
SELECT dwc.ml_predict('iris_logistic', '{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}') AS setosa,
       dwc.ml_predict('iris_logistic', '{"sepal_length_cm": 6.7, "sepal_width_cm": 3.0, "petal_length_cm": 5.2, "petal_width_cm": 2.3}') AS virginica;
SELECT round(sum(value::numeric), 6) AS total, count(*) AS classes
  FROM jsonb_each_text(dwc.ml_predict_proba('iris_forest', '{"sepal_length_cm": 6.1, "sepal_width_cm": 2.8, "petal_length_cm": 4.7, "petal_width_cm": 1.2}'));
SELECT jsonb_array_length(dwc.ml_predict_query('iris_knn', 'SELECT sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm FROM iris')) AS predicted,
       (SELECT count(*) FILTER (WHERE p #>> '{}' = i.species) FROM
            (SELECT row_number() OVER () AS n, species FROM iris) i
            JOIN (SELECT ordinality AS n, value AS p
                    FROM jsonb_array_elements(dwc.ml_predict_query('iris_knn', 'SELECT sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm FROM iris')) WITH ORDINALITY) q
              ON q.n = i.n) > 140 AS mostly_right;
-- kNN on many rows: one row at a time (a single-precision first pass, then exact distances of
-- the rows it cannot rule out) finds the neighbours the exact search of many rows at once finds,
-- also among exact duplicates (every 600th row is repeated)
CREATE TABLE knn_many AS
SELECT sin(k * 0.37) AS a, cos(k * 1.3) AS b, sin(k * 0.011) * 3 AS c, sin(k * 0.37) + cos(k * 1.3) * 2 + k % 7 AS y
  FROM generate_series(1, 6000) g, LATERAL (SELECT CASE WHEN g % 10 = 0 THEN g % 600 + 1 ELSE g END AS k) r;
SELECT dwc.ml_create_model('knn_many', 'regression', 'knn', '{"n_neighbors": 7, "weights": "distance"}') ->> 'name';
SELECT (dwc.ml_train('knn_many', 'knn_many', target => 'y', options => '{"test_size": 0}')) ->> 'version' AS version;
CREATE TABLE knn_probe AS SELECT n, sin(n * 0.23) AS a, cos(n * 0.7) AS b, sin(n * 0.05) * 3 AS c
  FROM generate_series(1, 300) n UNION ALL SELECT 1000 + k, a, b, c FROM (SELECT row_number() OVER () AS k, a, b, c FROM knn_many LIMIT 20) d;
SELECT count(*) AS probes, count(*) FILTER (WHERE abs(o.one - (m.p #>> '{}')::float8) > 1e-9) AS differ
  FROM (SELECT row_number() OVER (ORDER BY n) AS i, dwc.ml_predict_array('knn_many', ARRAY[a, b, c]) AS one FROM knn_probe) o
  JOIN (SELECT ordinality AS i, value AS p
          FROM jsonb_array_elements(dwc.ml_predict_query('knn_many', 'SELECT a, b, c FROM knn_probe ORDER BY n')) WITH ORDINALITY) m
    ON m.i = o.i;
SELECT dwc.ml_predict_batch('iris_bayes', '[{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2},
                                            {"sepal_length_cm": 5.9, "sepal_width_cm": 3.0, "petal_length_cm": 4.2, "petal_width_cm": 1.5}]') AS batch;
SELECT jsonb_typeof(dwc.ml_predict_batch('iris_bayes', '[{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}]', true) -> 0 -> 'probabilities') AS probabilities,
       dwc.ml_predict_batch('iris_bayes', '[{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}]', true) -> 0 ->> 'prediction' AS prediction;
-- a table's rows as they are: columns that are not features are left aside
SELECT count(*) FILTER (WHERE dwc.ml_predict_row('iris_forest', i) #>> '{}' = species) > 140 AS rows_right FROM iris i;
SELECT dwc.ml_predict_row('iris_forest', ROW(1, 2));
SELECT round((dwc.ml_predict('db_ridge', '{"age": 50, "sex": 1, "bmi": 30, "bp": 95, "s1": 190, "s2": 115, "s3": 48, "s4": 4, "s5": 4.6, "s6": 91}')::text)::numeric, 0) AS progression;

-- text features are one-hot encoded; NULLs imputed when asked; labels keep their type
CREATE TABLE churn (age int, plan text, monthly numeric, active bool, churned int);
INSERT INTO churn SELECT 20 + i % 50, (ARRAY['basic', 'plus', 'pro'])[1 + i % 3], 10 + (i % 7) * 5, i % 4 <> 0,
                         CASE WHEN i % 3 = 0 AND i % 4 = 0 THEN 1 ELSE 0 END
  FROM generate_series(1, 240) i;
UPDATE churn SET monthly = NULL WHERE age = 33;
SELECT dwc.ml_create_model('churn', 'classification', 'decision_tree', '{"max_depth": 4}') ->> 'name';
SELECT dwc.ml_train('churn', 'churn', target => 'churned');
SELECT r->>'train_rows' AS train, round((r->'metrics'->>'accuracy')::numeric, 2) AS accuracy,
       r->'options'->>'nulls' AS nulls
  FROM dwc.ml_train('churn', 'churn', target => 'churned', options => '{"nulls": "impute"}') r;
SELECT jsonb_pretty(dwc.ml_model('churn') -> 'schema') AS schema;
SELECT dwc.ml_predict('churn', '{"age": 40, "plan": "basic", "monthly": 20, "active": false}') AS churn_basic,
       dwc.ml_predict('churn', '{"age": 40, "plan": "plus", "monthly": null, "active": true}') AS imputed;

-- the seed's JSON training data, boolean labels
SELECT dwc.ml_create_model('Customer Churn Prediction', 'classification', 'random_forest',
                           '{"n_estimators": 20, "max_depth": 10}', 'Predict customer churn') ->> 'algorithm';
SELECT r->>'train_rows' AS train, r->>'test_rows' AS test, r->>'source' IS NULL AS from_json,
       r->'metrics'->>'evaluated_on' AS evaluated_on
  FROM dwc.ml_train('Customer Churn Prediction', training_data => (
         SELECT jsonb_agg(jsonb_build_object('age', 20 + i % 40, 'income', 30000 + (i % 11) * 5000, 'churn', i % 5 = 0))
           FROM generate_series(1, 50) i),
         target => 'churn', options => '{"test_size": 0}') r;
SELECT dwc.ml_predict('Customer Churn Prediction', '{"age": 30, "income": 60000}') AS churn;

-- ---- bad input: clear errors that name what is wrong -------------------------------------
SELECT dwc.ml_train('iris_tree', 'iris', target => 'kind');                        -- missing target column
SELECT dwc.ml_train('iris_tree', 'iris', target => 'species', features => '{petal_length_cm,colour}');
CREATE TABLE odd (doc jsonb, x float8, y int, empty float8, word text);
INSERT INTO odd SELECT jsonb_build_object('i', i), i, i % 2, NULL, 'w' || i FROM generate_series(1, 300) i;
SELECT dwc.ml_train('iris_tree', 'odd', target => 'y');                             -- jsonb feature
SELECT dwc.ml_train('iris_tree', 'odd', target => 'y', features => '{x,word}');     -- too many categories
SELECT dwc.ml_train('iris_tree', 'odd', target => 'y', features => '{x,empty}');    -- all-NULL column
SELECT dwc.ml_train('iris_tree', 'odd', target => 'y', features => '{x,empty}', options => '{"nulls": "impute"}');
SELECT dwc.ml_train('iris_tree', 'SELECT * FROM iris WHERE species = ''setosa''', target => 'species');   -- one class
SELECT dwc.ml_train('iris_tree', 'SELECT * FROM iris WHERE false', target => 'species');                  -- empty
SELECT dwc.ml_train('iris_tree', training_data => '[]', target => 'species');
SELECT dwc.ml_train('iris_tree', 'iris', target => 'species', options => '{"test_size": 1.5}');
SELECT dwc.ml_train('iris_tree', 'iris', target => 'species', options => '{"split": "time"}');
SELECT dwc.ml_train('iris_tree', 'no_such_table', target => 'species');
SELECT dwc.ml_train('iris_tree', target => 'species');
SELECT dwc.ml_train('iris_tree', 'iris', target => 'species', deploy => 'sometimes');
SELECT dwc.ml_create_model('too_near', 'classification', 'knn', '{"n_neighbors": 200}') ->> 'name';
SELECT dwc.ml_train('too_near', 'iris', target => 'species');                      -- k larger than the rows
SELECT dwc.ml_create_model('too_many', 'clustering', 'kmeans', '{"n_clusters": 500}') ->> 'name';
SELECT dwc.ml_train('too_many', 'SELECT x, y FROM blobs');
SELECT dwc.ml_train('too_many', 'SELECT x, y FROM blobs', target => 'x');
SELECT dwc.ml_train('db_ridge', 'iris', target => 'species');                      -- text regression target
SELECT dwc.ml_predict('iris_logistic', '{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4}');
SELECT dwc.ml_predict('iris_logistic', '{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2, "colour": "blue"}');
SELECT dwc.ml_predict('iris_logistic', '{"sepal_length_cm": "long", "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}');
SELECT dwc.ml_predict('iris_logistic', '[1, 2, 3, 4]');
SELECT dwc.ml_predict('churn', '{"age": 40, "plan": "gold", "monthly": 20, "active": false}');
SELECT dwc.ml_predict_array('iris_logistic', '{1,2,3}');
SELECT dwc.ml_predict_proba('db_ridge', '{"age": 50}');
SELECT dwc.ml_predict_query('iris_knn', 'SELECT *, 1 AS extra FROM iris');
SELECT dwc.ml_predict_query('iris_knn', 'DELETE FROM iris RETURNING sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm');
SELECT dwc.ml_predict_query('iris_knn', 'SELECT 1; SELECT 2');
SELECT dwc.ml_predict('no_such_model', '{"x": 1}');                                 -- unknown model
SELECT dwc.ml_predict('too_near', '{"x": 1}');                                      -- never trained
SELECT dwc.ml_create_model('bad', 'classification', 'random_forest', '{"n_trees": 10}');
SELECT dwc.ml_create_model('bad', 'classification', 'gradient_boosting', '{"n_estimators": 10}');
SELECT dwc.ml_create_model('bad', 'classification', 'gradient_boosting', '{"learning_rate": 0}');
SELECT dwc.ml_create_model('bad', 'regression', 'gradient_boosting', '{"max_bins": 256}');
SELECT dwc.ml_create_model('bad', 'regression', 'gradient_boosting', '{"early_stopping": "sometimes"}');
SELECT dwc.ml_create_model('bad', 'clustering', 'gradient_boosting');
SELECT dwc.ml_create_model('bad', 'classification', 'random_forest', '{"max_depth": 0}');
SELECT dwc.ml_create_model('bad', 'classification', 'random_forest', '{"criterion": "squared_error"}');
SELECT dwc.ml_create_model('bad', 'regression', 'logistic_regression');
SELECT dwc.ml_create_model('bad', 'forecasting', 'knn');
SELECT dwc.ml_create_model('bad', 'classification', 'svm');
SELECT dwc.ml_create_model('iris_tree', 'classification', 'decision_tree');
SELECT dwc.ml_create_model('#7', 'classification', 'decision_tree');

-- a damaged artifact is an error, never a crash
SELECT (dwc.ml_artifact_info(artifact) ->> 'algorithm') AS algorithm FROM dwc.ml_model_versions
 WHERE model_id = (SELECT id FROM dwc.ml_models WHERE name = 'iris_tree');
SELECT dwc.ml_artifact_info(overlay(artifact PLACING '\xff'::bytea FROM 40)) FROM dwc.ml_model_versions
 WHERE model_id = (SELECT id FROM dwc.ml_models WHERE name = 'iris_tree');
SELECT dwc.ml_artifact_info(substring(artifact FROM 1 FOR 100)) FROM dwc.ml_model_versions
 WHERE model_id = (SELECT id FROM dwc.ml_models WHERE name = 'iris_tree');
SELECT dwc.ml_artifact_info('\x44574350'::bytea);
SELECT dwc.ml_artifact_info(overlay(artifact PLACING '\x09'::bytea FROM 6)) FROM dwc.ml_model_versions
 WHERE model_id = (SELECT id FROM dwc.ml_models WHERE name = 'iris_tree');

-- ---- missing values: gradient boosting learns where they go ----------------------------
-- x is 0, 5 or 10 (5 is also its mean, what imputing would put) or missing, which is its own class
CREATE TABLE gb_missing AS
SELECT CASE WHEN g % 4 = 0 THEN NULL ELSE (g % 4 - 1) * 5.0 END AS x, (g % 7)::float8 AS z,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'c' || g % 3 END AS t,
       CASE g % 4 WHEN 0 THEN 'gone' WHEN 1 THEN 'low' WHEN 2 THEN 'mid' ELSE 'high' END AS label
  FROM generate_series(1, 2000) g;
SELECT dwc.ml_create_model('gb_missing', 'classification', 'gradient_boosting', '{"random_state": 1}') ->> 'name';
SELECT (r->'metrics'->>'accuracy')::float8 AS accuracy FROM dwc.ml_train('gb_missing', 'gb_missing', target => 'label') r;
SELECT dwc.ml_predict('gb_missing', '{"x": null, "z": 1, "t": "c1"}') AS null_x,
       dwc.ml_predict('gb_missing', '{"z": 1, "t": null}') AS absent_x,
       dwc.ml_predict('gb_missing', '{"x": 5, "z": 1}') AS five,
       dwc.ml_predict('gb_missing', '{"x": 10, "z": null, "t": "c2"}') AS ten;
SELECT count(*) FILTER (WHERE p #>> '{}' = label) AS right_rows, count(*) AS rows
  FROM (SELECT label, row_number() OVER () AS n FROM gb_missing) d
  JOIN jsonb_array_elements(dwc.ml_predict_query('gb_missing', 'SELECT x, z, t FROM gb_missing')) WITH ORDINALITY q(p, n)
    USING (n);
SELECT c->>'name' AS feature, c->>'impute' AS nulls
  FROM dwc.ml_model_versions v, jsonb_array_elements(dwc.ml_artifact_info(v.artifact)->'columns') c
 WHERE v.model_id = (SELECT id FROM dwc.ml_models WHERE name = 'gb_missing') ORDER BY 1;
-- imputing cannot tell a missing x from a 5
SELECT (r->'metrics'->>'accuracy')::float8 < 0.9 AS imputed_worse
  FROM dwc.ml_train('gb_missing', 'gb_missing', target => 'label', options => '{"nulls": "impute"}') r;
SELECT dwc.ml_create_model('rf_missing', 'classification', 'random_forest') ->> 'name';
SELECT dwc.ml_train('rf_missing', 'gb_missing', target => 'label', options => '{"nulls": "missing"}');
SELECT dwc.ml_train('rf_missing', 'gb_missing', target => 'label');
SELECT dwc.ml_train('rf_missing', 'gb_missing', target => 'label', options => '{"nulls": "sometimes"}');

-- ---- text features as sets of levels: gradient boosting splits a level input by a set -----
-- the class is whether the level is one of five of twelve: one split of a set finds it, where
-- one split of a one-hot input sets one level apart
CREATE TABLE gb_levels AS
SELECT 'L' || lpad((g % 12)::text, 2, '0') AS level, (g % 7)::float8 AS z,
       CASE WHEN g % 12 IN (1, 4, 5, 9, 10) THEN 'yes' ELSE 'no' END AS label
  FROM generate_series(1, 1200) g;
SELECT dwc.ml_create_model('gb_levels', 'classification', 'gradient_boosting',
    '{"max_iter": 1, "max_leaf_nodes": 2, "learning_rate": 1, "min_samples_leaf": 1, "early_stopping": false}') ->> 'name';
SELECT (r->'metrics'->>'accuracy')::float8 AS native_accuracy
  FROM dwc.ml_train('gb_levels', 'gb_levels', target => 'label') r;
SELECT dwc.ml_predict('gb_levels', '{"level": "L04", "z": 3}') AS l04, dwc.ml_predict('gb_levels', '{"level": "L06", "z": 3}') AS l06,
       dwc.ml_predict('gb_levels', '{"level": null, "z": 3}') IS NOT NULL AS null_level;
SELECT c->>'name' AS feature, c->>'encoding' AS encoding, c->>'input' AS input
  FROM dwc.ml_model_versions v, jsonb_array_elements(dwc.ml_artifact_info(v.artifact)->'columns') c
 WHERE v.model_id = (SELECT id FROM dwc.ml_models WHERE name = 'gb_levels') AND v.version = 1 ORDER BY 1;
SELECT dwc.ml_predict('gb_levels', '{"level": "L99", "z": 3}');
SELECT dwc.ml_update_model('gb_levels', '{"max_iter": 1, "max_leaf_nodes": 2, "learning_rate": 1, "min_samples_leaf": 1,
                                          "early_stopping": false, "categorical": "one_hot"}') IS NOT NULL AS updated;
SELECT (r->'metrics'->>'accuracy')::float8 < 1 AS one_hot_needs_more
  FROM dwc.ml_train('gb_levels', 'gb_levels', target => 'label') r;
SELECT dwc.ml_update_model('gb_levels', '{"categorical": "sometimes"}');

-- ---- deployment: best, always, latest, a version, rollback; retraining ------------------
SELECT dwc.ml_create_model('deploy', 'classification', 'decision_tree', '{"max_depth": 1}') ->> 'name';
SELECT r->>'version' AS version, r->>'deployed_version' AS deployed
  FROM dwc.ml_train('deploy', 'iris', target => 'species') r;                       -- v1, deployed (first)
SELECT dwc.ml_update_model('deploy', '{"max_depth": 3}') ->> 'name';
SELECT r->>'version' AS version, r->>'deployed_version' AS deployed
  FROM dwc.ml_train('deploy', 'iris', target => 'species') r;                       -- v2 scores better: deployed
SELECT dwc.ml_update_model('deploy', '{"max_depth": 1}') ->> 'name';
SELECT r->>'version' AS version, r->>'deployed_version' AS deployed
  FROM dwc.ml_train('deploy', 'iris', target => 'species') r;                       -- v3 scores worse: kept v2
SELECT dwc.ml_deploy('deploy', strategy => 'latest') ->> 'deployed_version' AS latest;
SELECT dwc.ml_deploy('deploy', strategy => 'rollback') ->> 'deployed_version' AS rolled_back;
SELECT dwc.ml_deploy('deploy', 1) ->> 'deployed_version' AS given;
SELECT dwc.ml_deploy('deploy') ->> 'deployed_version' AS best;
SELECT dwc.ml_deploy('deploy', 9);
SELECT dwc.ml_deploy('deploy', strategy => 'random');
SELECT r->>'version' AS version, r->>'deployed_version' AS deployed, r->>'source' AS source
  FROM dwc.ml_retrain('deploy', deploy => 'always') r;
SELECT version, deployed, score IS NOT NULL AS scored
  FROM jsonb_to_recordset(dwc.ml_performance('deploy') -> 'versions') AS v(version int, deployed bool, score float8);
SELECT strategy FROM jsonb_to_recordset(dwc.ml_performance('deploy') -> 'deployments') AS d(version int, strategy text);
-- best compares like with like: a perfect score on a version's own training rows does not
-- keep out a version scored on held-out rows, nor does it win over one afterwards
SELECT dwc.ml_create_model('footing', 'classification', 'decision_tree', '{"max_depth": 12}') ->> 'name';
SELECT r->>'version' AS version, r->'metrics'->>'evaluated_on' AS on, r->>'score' AS score, r->>'deployed_version' AS deployed
  FROM dwc.ml_train('footing', 'iris', target => 'species', options => '{"test_size": 0}') r;
SELECT dwc.ml_update_model('footing', '{"max_depth": 2}') ->> 'name';
SELECT r->>'version' AS version, r->'metrics'->>'evaluated_on' AS on, (r->>'score')::float8 < 1 AS below_one,
       r->>'deployed_version' AS deployed
  FROM dwc.ml_train('footing', 'iris', target => 'species') r;                       -- held out: deployed
SELECT dwc.ml_update_model('footing', '{"max_depth": 12}') ->> 'name';
SELECT r->>'version' AS version, r->'metrics'->>'evaluated_on' AS on, r->>'deployed_version' AS deployed
  FROM dwc.ml_train('footing', 'iris', target => 'species', options => '{"test_size": 0}') r;  -- kept v2
SELECT dwc.ml_deploy('footing') ->> 'deployed_version' AS best;                       -- v2 again
-- a deployment changes what predictions use at once (the model cache sees it)
SELECT dwc.ml_deploy('deploy', 1) ->> 'deployed_version';
SELECT dwc.ml_predict('deploy', '{"sepal_length_cm": 6.7, "sepal_width_cm": 3.0, "petal_length_cm": 5.2, "petal_width_cm": 2.3}') AS with_v1;
SELECT dwc.ml_deploy('deploy', 2) ->> 'deployed_version';
SELECT dwc.ml_predict('deploy', '{"sepal_length_cm": 6.7, "sepal_width_cm": 3.0, "petal_length_cm": 5.2, "petal_width_cm": 2.3}') AS with_v2;

-- listing, stats, deleting
SELECT count(*) AS models FROM jsonb_array_elements(dwc.ml_models());
SELECT count(*) AS clustering FROM jsonb_array_elements(dwc.ml_models('clustering'));
SELECT s->'models' AS models, s->'by_task' AS by_task FROM dwc.ml_stats() s;
SELECT dwc.ml_delete_model('too_many');
SELECT dwc.ml_delete_model('too_many');

-- the PostgREST twins (contract and access in test/integration/test_ml.py)
SELECT api_impl.create_ml_model('api model', 'regression', 'ridge', parameters => '{"alpha": 2}') ->> 'algorithm';
SELECT r->>'version' AS version, r->>'test_rows' AS test
  FROM api_impl.train_ml_model('api model', source => 'diabetes', target_column => 'progression', test_size => 0.1) r;
SELECT jsonb_array_length(api_impl.predict_ml_model('api model', '{"age": 50, "sex": 1, "bmi": 30, "bp": 95, "s1": 190, "s2": 115, "s3": 48, "s4": 4, "s5": 4.6, "s6": 91}') -> 'predictions') AS one;
SELECT obj_description('api.predict_ml_model(text, jsonb, boolean)'::regprocedure) IS NOT NULL AS documented;
