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
COMMENT ON FUNCTION api_impl.add_interaction(pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.text, pg_catalog.jsonb) IS
  'Record an interaction (POST /recommendations/interactions): a rating, or an implicit signal''s '
  'weight; deployed ALS models fold the user in at once.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('add_interaction', 'user', 'recommendations');

CREATE FUNCTION api_impl.set_item_features(item_id pg_catalog.text, features pg_catalog.jsonb DEFAULT NULL,
                                           content pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.rec_set_item(item_id, features, content);
COMMENT ON FUNCTION api_impl.set_item_features(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Set an item''s features and text (POST /recommendations/items/features).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('set_item_features', 'user', 'recommendations');

CREATE FUNCTION api_impl.create_rec_model(name pg_catalog.text, algorithm pg_catalog.text DEFAULT 'als',
                                          parameters pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.rec_create_model(name, algorithm, coalesce(parameters, '{}'));
COMMENT ON FUNCTION api_impl.create_rec_model(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Create a recommendation model (POST /recommendations/models): als, implicit_als, svd, bpr, item_knn, user_knn, content, hybrid or popularity.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_rec_model', 'user', 'recommendations');

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
COMMENT ON FUNCTION api_impl.train_rec_model(pg_catalog.text, pg_catalog.jsonb, pg_catalog.bool) IS
  'Train and deploy a version (POST /recommendations/models/{id}/train); async returns a job id.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('train_rec_model', 'user', 'recommendations');

CREATE FUNCTION api_impl.get_recommendations(user_id pg_catalog.text, model pg_catalog.text,
                                             n pg_catalog.int4 DEFAULT 10,
                                             exclude_interacted pg_catalog.bool DEFAULT true,
                                             filter pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('user_id', user_id, 'model', model,
                                  'recommendations', coalesce(jsonb_agg(jsonb_build_object('item_id', r.item_id,
                                                                                           'score', r.score)), '[]'))
          FROM dwc.recommend(user_id, model, n, exclude_interacted, filter) r);
COMMENT ON FUNCTION api_impl.get_recommendations(pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.bool, pg_catalog.jsonb) IS
  'Recommendations for a user (POST /recommendations/recommendations), best first.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_recommendations', 'user', 'recommendations');

CREATE FUNCTION api_impl.similar_items(item_id pg_catalog.text, model pg_catalog.text, n pg_catalog.int4 DEFAULT 10)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('item_id', s.item_id, 'score', s.score)), '[]')
          FROM dwc.similar_items(item_id, model, n) s);
COMMENT ON FUNCTION api_impl.similar_items(pg_catalog.text, pg_catalog.text, pg_catalog.int4) IS
  'Items like an item, by an ALS model.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('similar_items', 'user', 'recommendations');

CREATE FUNCTION api_impl.get_rec_model(model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.rec_model(model);
COMMENT ON FUNCTION api_impl.get_rec_model(pg_catalog.text) IS
  'A recommendation model with its versions and their metrics (GET /recommendations/stats).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_rec_model', 'user', 'recommendations');
