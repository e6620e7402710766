-- src/api/ml.sql: the seed's /ml endpoints (machine learning) for PostgREST. A model is
-- named by its name (the caller's) or "#<id>".

-- API: Public

CREATE FUNCTION api_impl.create_ml_model(name pg_catalog.text, model_type pg_catalog.text,
                                         algorithm pg_catalog.text, description pg_catalog.text DEFAULT NULL,
                                         parameters pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_create_model(name, model_type, algorithm, coalesce(parameters, '{}'), description);
SELECT dwc._declare_http('api_impl.create_ml_model',
  'Create an ML model (POST /ml/models): model_type is the task (classification, regression, '
  'clustering), algorithm one of linear_regression, ridge, lasso, elastic_net, logistic_regression, '
  'decision_tree, random_forest, naive_bayes, knn, kmeans; parameters its hyperparameters.',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.train_ml_model(model pg_catalog.text, training_data pg_catalog.jsonb DEFAULT NULL,
                                        target_column pg_catalog.text DEFAULT NULL,
                                        test_size pg_catalog.float8 DEFAULT NULL,
                                        source pg_catalog.text DEFAULT NULL,
                                        features pg_catalog.text[] DEFAULT NULL,
                                        options pg_catalog.jsonb DEFAULT '{}',
                                        deploy pg_catalog.text DEFAULT 'best',
                                        async pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
-- no SET search_path: a source table is named as the caller's search_path (PostgREST's
-- db-extra-search-path) finds it
AS $$
DECLARE
    opts jsonb := coalesce(options, '{}') || CASE WHEN test_size IS NOT NULL
                                                  THEN jsonb_build_object('test_size', test_size) ELSE '{}' END;
BEGIN
    IF async THEN
        RETURN jsonb_build_object('job_id', dwc.ml_train_async(model, source, training_data, target_column,
                                                               features, opts, deploy),
                                  'status', 'queued');
    END IF;
    RETURN dwc.ml_train(model, source, training_data, target_column, features, opts, deploy);
END;
$$;
SELECT dwc._declare_http('api_impl.train_ml_model',
  'Train a model (POST /ml/models/{id}/train) on training_data (a JSON array of objects) or source '
  '(a table, a view or a query the caller may read), predicting target_column; test_size held out '
  '(default 0.25). With async, returns {job_id} at once (GET /background/tasks/{id} for the outcome).',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.predict_ml_model(model pg_catalog.text, input_data pg_catalog.jsonb,
                                          return_probabilities pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rows jsonb := CASE jsonb_typeof(input_data) WHEN 'object' THEN jsonb_build_array(input_data) ELSE input_data END;
BEGIN
    IF jsonb_typeof(rows) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'input_data must be a JSON object or an array of objects' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN jsonb_build_object('model', model,
                              'predictions', dwc.ml_predict_batch(model, rows, coalesce(return_probabilities, false)));
END;
$$;
SELECT dwc._declare_http('api_impl.predict_ml_model',
  'Predict with the deployed version (POST /ml/models/{id}/predict): input_data is one object of '
  'features or an array of them; with return_probabilities, each prediction comes with its class probabilities.',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.list_ml_models(model_type pg_catalog.text DEFAULT NULL)
RETURNS TABLE (id pg_catalog.int8, name pg_catalog.text, task pg_catalog.text, algorithm pg_catalog.text,
               hyperparameters pg_catalog.jsonb, description pg_catalog.text, owner pg_catalog.text,
               owner_user pg_catalog.text, deployed_version pg_catalog.int4, versions pg_catalog.int8,
               created_at pg_catalog.timestamptz, updated_at pg_catalog.timestamptz, deployed pg_catalog.jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.ml_models(model_type))
        AS r (id int8, name text, task text, algorithm text, hyperparameters jsonb, description text, owner text,
              owner_user text, deployed_version int4, versions int8, created_at timestamptz, updated_at timestamptz,
              deployed jsonb);
END;
SELECT dwc._declare_http('api_impl.list_ml_models',
  'The caller''s ML models, newest first, optionally of one task (GET /ml/models). '
  'Rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.get_ml_model(model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_model(model);
SELECT dwc._declare_http('api_impl.get_ml_model',
  'An ML model with its deployed version, features and classes (GET /ml/models/{id}).',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.delete_ml_model(model pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_delete_model(model);
SELECT dwc._declare_http('api_impl.delete_ml_model',
  'Delete an ML model and all its versions (DELETE /ml/models/{id}).',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.ml_model_performance(model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_performance(model);
SELECT dwc._declare_http('api_impl.ml_model_performance',
  'Metrics of every version of a model and its deployments (GET /ml/models/{id}/performance).',
  access => 'user', grp => 'ml');

CREATE FUNCTION api_impl.deploy_ml_model(model pg_catalog.text, version pg_catalog.int4 DEFAULT NULL,
                                         strategy pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_deploy(model, version, strategy);
SELECT dwc._declare_http('api_impl.deploy_ml_model',
  'Deploy a version of a model (POST /ml/models/{id}/deploy): the version given, or by strategy: '
  'best, latest, rollback.',
  access => 'user', grp => 'ml');

