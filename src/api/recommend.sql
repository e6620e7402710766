-- src/api/recommend.sql: the seed's /recommendations endpoints for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.add_interaction(user_id pg_catalog.text, item_id pg_catalog.text,
                                         rating pg_catalog.float8 DEFAULT 1,
                                         interaction_type pg_catalog.text DEFAULT 'rating',
                                         context pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', dwc.rec_interact(user_id, item_id, rating, interaction_type, context));
SELECT dwc._declare_http('api_impl.add_interaction',
  'Record an interaction (POST /recommendations/interactions): a rating, or an implicit signal''s '
  'weight; deployed ALS models fold the user in at once.',
  access => 'user', grp => 'recommendations');

CREATE FUNCTION api_impl.set_item_features(item_id pg_catalog.text, features pg_catalog.jsonb DEFAULT NULL,
                                           content pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.rec_set_item(item_id, features, content);
SELECT dwc._declare_http('api_impl.set_item_features',
  'Set an item''s features and text (POST /recommendations/items/features).',
  access => 'user', grp => 'recommendations');

-- API: Private

-- The seed's names for algorithms and kinds of recommender, and its ids ("rec_model_1": the
-- model with id 1, "#1" in dwc's naming)
CREATE FUNCTION dwc._rec_algorithm(algorithm pg_catalog.text, recommendation_type pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN algorithm IS NOT NULL THEN
        CASE algorithm WHEN 'user_based_cf' THEN 'user_knn' WHEN 'item_based_cf' THEN 'item_knn'
                       WHEN 'matrix_factorization' THEN 'als' WHEN 'content_based' THEN 'content' ELSE algorithm END
    WHEN recommendation_type IS NULL THEN 'als'
    ELSE CASE recommendation_type WHEN 'collaborative_filtering' THEN 'als' WHEN 'content_based' THEN 'content'
                                  WHEN 'hybrid' THEN 'hybrid' WHEN 'popularity' THEN 'popularity' END
END;
COMMENT ON FUNCTION dwc._rec_algorithm(pg_catalog.text, pg_catalog.text) IS
  'Private: the algorithm the seed''s request names (its user_based_cf, item_based_cf, matrix_factorization, '
  'content_based), or its recommendation_type''s default; NULL for a type it does not know.';
-- the api bodies that read the seed's requests run as the caller
GRANT EXECUTE ON FUNCTION dwc._rec_algorithm(pg_catalog.text, pg_catalog.text) TO dwc_user, dwc_admin;

CREATE FUNCTION dwc._seed_id(id pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN id OPERATOR(pg_catalog.~) '^[a-z]+(_[a-z]+)*_[0-9]{1,18}$'
            THEN '#' OPERATOR(pg_catalog.||) pg_catalog.substring(id, '([0-9]+)$') ELSE id END;
COMMENT ON FUNCTION dwc._seed_id(pg_catalog.text) IS
  'Private: dwc''s name of an object the seed names by its id: "rec_model_1" is "#1" (the object with id 1); '
  'anything else as it is.';
GRANT EXECUTE ON FUNCTION dwc._seed_id(pg_catalog.text) TO dwc_user, dwc_admin;

-- API: Public

CREATE FUNCTION api_impl.create_rec_model(name pg_catalog.text, algorithm pg_catalog.text DEFAULT NULL,
                                          parameters pg_catalog.jsonb DEFAULT '{}',
                                          recommendation_type pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    algo text := dwc._rec_algorithm(algorithm, recommendation_type);
BEGIN
    IF algo IS NULL THEN
        RAISE EXCEPTION 'unknown recommendation_type "%"', recommendation_type
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'collaborative_filtering, content_based, hybrid or popularity; or name an algorithm.';
    END IF;
    RETURN dwc.rec_create_model(name, algo, coalesce(parameters, '{}'));
END;
$$;
SELECT dwc._declare_http('api_impl.create_rec_model',
  'Create a recommendation model (POST /recommendations/models): als, implicit_als, svd, bpr, item_knn, user_knn, '
  'content, hybrid or popularity (the seed''s user_based_cf, item_based_cf, matrix_factorization and content_based '
  'too), or by recommendation_type: collaborative_filtering (als), content_based, hybrid, popularity.',
  access => 'user', grp => 'recommendations');

CREATE FUNCTION api_impl.train_rec_model(model pg_catalog.text, options pg_catalog.jsonb DEFAULT '{}',
                                         async pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF async THEN
        RETURN jsonb_build_object('job_id', dwc.enqueue('rec.train', jsonb_build_object('model', model,
                                                        'options', coalesce(options, '{}'))),
                                  'status', 'queued');
    END IF;
    RETURN dwc.rec_train(model, coalesce(options, '{}'));
END;
$$;
SELECT dwc._declare_http('api_impl.train_rec_model',
  'Train and deploy a version (POST /recommendations/models/{id}/train); async returns a job id.',
  access => 'user', grp => 'recommendations');

CREATE FUNCTION api_impl.get_recommendations(user_id pg_catalog.text, model pg_catalog.text DEFAULT NULL,
                                             n pg_catalog.int4 DEFAULT NULL,
                                             exclude_interacted pg_catalog.bool DEFAULT true,
                                             filter pg_catalog.jsonb DEFAULT NULL,
                                             model_id pg_catalog.text DEFAULT NULL,
                                             num_recommendations pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m text := coalesce(model, dwc._seed_id(model_id));
BEGIN
    IF m IS NULL THEN
        RAISE EXCEPTION 'no model' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name it: model (a name or #id), or model_id.';
    END IF;
    RETURN (SELECT jsonb_build_object('user_id', user_id, 'model', m,
                                      'recommendations', coalesce(jsonb_agg(jsonb_build_object('item_id', r.item_id,
                                                                                               'score', r.score)), '[]'))
              FROM dwc.recommend(user_id, m, coalesce(n, num_recommendations, 10), exclude_interacted, filter) r);
END;
$$;
SELECT dwc._declare_http('api_impl.get_recommendations',
  'Recommendations for a user (POST /recommendations/recommendations), best first: model by name or #id, or model_id '
  '(the seed''s rec_model_1 is #1); n or num_recommendations (10).',
  access => 'user', grp => 'recommendations');

CREATE FUNCTION api_impl.similar_items(item_id pg_catalog.text, model pg_catalog.text, n pg_catalog.int4 DEFAULT 10)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('item_id', s.item_id, 'score', s.score)), '[]')
          FROM dwc.similar_items(item_id, model, n) s);
SELECT dwc._declare_http('api_impl.similar_items',
  'Items like an item, by an ALS model.',
  access => 'user', grp => 'recommendations');

CREATE FUNCTION api_impl.get_rec_model(model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.rec_model(model);
SELECT dwc._declare_http('api_impl.get_rec_model',
  'A recommendation model with its versions and their metrics (GET /recommendations/stats).',
  access => 'user', grp => 'recommendations');
