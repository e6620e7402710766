-- src/recommend/recommend.sql: the recommender. Interactions and items per owner, models
-- trained in C (src/recommend), versioned like ML models, users folded in as they interact.
-- See docs/recommend.md.

-- API: Private

CREATE TABLE dwc.rec_interactions (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 200),
    item_id pg_catalog.text NOT NULL CHECK (length(item_id) BETWEEN 1 AND 200),
    kind pg_catalog.text NOT NULL DEFAULT 'rating' CHECK (length(kind) BETWEEN 1 AND 63),
    value pg_catalog.float8 NOT NULL DEFAULT 1
        CHECK (value > '-Infinity' AND value < 'Infinity'),   -- also refuses NaN
    at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    context pg_catalog.jsonb NOT NULL DEFAULT '{}',
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text
);
COMMENT ON TABLE dwc.rec_interactions IS
  'What users did with items: a rating (value), or an implicit signal (a view, a purchase: its weight), '
  'with its time and context. Rows belong to the role and dwc user that recorded them; models of that '
  'owner train on them.';
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_interactions_id_seq', '');
-- owner_user is NULL for rows made outside PostgREST: coalesce makes the owner indexable
-- the items a user has, for recommend()'s exclusion, from the index alone once vacuum has passed
-- (owner_user included: an index-only scan needs the columns under an expression too)
CREATE INDEX rec_interactions_user ON dwc.rec_interactions (owner, coalesce(owner_user, ''), user_id)
    INCLUDE (item_id, owner_user);
CREATE INDEX rec_interactions_item ON dwc.rec_interactions (owner, coalesce(owner_user, ''), item_id);
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_interactions', '');

CREATE TABLE dwc.rec_items (
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    item_id pg_catalog.text NOT NULL CHECK (length(item_id) BETWEEN 1 AND 200),
    features pg_catalog.jsonb NOT NULL DEFAULT '{}',
    content pg_catalog.text,
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- no primary key: logical replication identifies a row by all its columns (docs/replication.md)
ALTER TABLE dwc.rec_items REPLICA IDENTITY FULL;
COMMENT ON TABLE dwc.rec_items IS
  'Items: features (a jsonb object, which recommend()''s filter matches with @>) and text.';
CREATE UNIQUE INDEX rec_items_key ON dwc.rec_items (owner, coalesce(owner_user, ''), item_id);
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_items', '');

CREATE TABLE dwc.rec_models (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL CHECK (dwc._valid_name(name)),
    algorithm pg_catalog.text NOT NULL,
    hyperparameters pg_catalog.jsonb NOT NULL DEFAULT '{}',
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    deployed_version pg_catalog.int4,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.rec_models IS 'Recommendation models: an algorithm and its hyperparameters; versions hold what training made.';
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_models_id_seq', '');
CREATE UNIQUE INDEX rec_models_name ON dwc.rec_models (owner, coalesce(owner_user, ''), dwc.name_slug(name));
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_models', '');

CREATE TABLE dwc.rec_versions (
    model_id pg_catalog.int8 NOT NULL REFERENCES dwc.rec_models (id) ON DELETE CASCADE,
    version pg_catalog.int4 NOT NULL,
    hyperparameters pg_catalog.jsonb NOT NULL,
    mean pg_catalog.float8 NOT NULL,         -- the training values' mean: predictions are mean + x·y
    users pg_catalog.int4 NOT NULL,
    items pg_catalog.int4 NOT NULL,
    train_interactions pg_catalog.int4 NOT NULL,
    test_interactions pg_catalog.int4 NOT NULL,
    metrics pg_catalog.jsonb NOT NULL,
    training_ms pg_catalog.float8 NOT NULL,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (model_id, version)
);
COMMENT ON TABLE dwc.rec_versions IS
  'Trained versions of recommendation models: sizes, held-out metrics (RMSE, MAE, precision@k, '
  'recall@k, NDCG@k, MAP@k, coverage) and training time.';
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_versions', '');

-- the factors of a version: one row per user ('u') and per item ('i'); fold-in rewrites a
-- user's row of the deployed version
CREATE TABLE dwc.rec_factors (
    model_id pg_catalog.int8 NOT NULL,
    version pg_catalog.int4 NOT NULL,
    side pg_catalog."char" NOT NULL CHECK (side IN ('u', 'i')),
    id pg_catalog.text NOT NULL,
    factors pg_catalog.float8[] NOT NULL,
    n pg_catalog.int4 NOT NULL,              -- interactions behind them (popularity: their sum)
    PRIMARY KEY (model_id, version, side, id)
);
COMMENT ON TABLE dwc.rec_factors IS 'Latent factors of users and items of each model version.';
ALTER TABLE dwc.rec_factors ALTER COLUMN factors SET STORAGE EXTERNAL;
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_factors', '');

-- kNN versions: each item's nearest items (item_knn, side 'i') or each user's nearest users
-- (user_knn, side 'u'), best first
CREATE TABLE dwc.rec_neighbors (
    model_id pg_catalog.int8 NOT NULL,
    version pg_catalog.int4 NOT NULL,
    side pg_catalog."char" NOT NULL CHECK (side IN ('u', 'i')),
    id pg_catalog.text NOT NULL,
    neighbors pg_catalog.text[] NOT NULL,
    similarities pg_catalog.float8[] NOT NULL,
    PRIMARY KEY (model_id, version, side, id)
);
COMMENT ON TABLE dwc.rec_neighbors IS
  'Nearest items of each item (item_knn) or nearest users of each user (user_knn), with their '
  'similarities, of kNN model versions.';
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_neighbors', '');

-- A version's factors and neighbour lists go with it.  Not foreign keys: their check, a query
-- per stored row, was a sixth of a popularity model's training (bench/recommend.py).  Only
-- dwc's C code writes these rows: a training right after inserting their version, a fold-in
-- holding the version's row (FOR KEY SHARE), as the key's check would have.
CREATE FUNCTION dwc._rec_versions_gone() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM dwc.rec_factors f USING gone g WHERE f.model_id = g.model_id AND f.version = g.version;
    DELETE FROM dwc.rec_neighbors n USING gone g WHERE n.model_id = g.model_id AND n.version = g.version;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dwc._rec_versions_gone() IS
  'Private: deletes the factors and neighbour lists of deleted recommendation model versions.';
CREATE TRIGGER rec_versions_gone AFTER DELETE ON dwc.rec_versions
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION dwc._rec_versions_gone();

-- recommendations made for every user at once (dwc.rec_recommend_all, or a rec.recommend_all job)
CREATE TABLE dwc.rec_batches (
    model_id pg_catalog.int8 NOT NULL REFERENCES dwc.rec_models (id) ON DELETE CASCADE,
    user_id pg_catalog.text NOT NULL,
    version pg_catalog.int4 NOT NULL,
    items pg_catalog.jsonb NOT NULL,          -- [{"item_id", "score"}, ...], best first
    made_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (model_id, user_id)
);
COMMENT ON TABLE dwc.rec_batches IS
  'The latest batch of recommendations of a model for each of its users, and the version that made them.';
SELECT pg_catalog.pg_extension_config_dump('dwc.rec_batches', '');

-- signed-in users read their own rows directly (src/security/roles.sql)
SELECT dwc._enable_owner_rls('dwc.rec_interactions', 'dwc._row_visible(owner, owner_user)');
SELECT dwc._enable_owner_rls('dwc.rec_items', 'dwc._row_visible(owner, owner_user)');
SELECT dwc._enable_owner_rls('dwc.rec_models', 'dwc._row_visible(owner, owner_user)');
SELECT dwc._enable_owner_rls('dwc.rec_batches',
    'EXISTS (SELECT 1 FROM dwc.rec_models m WHERE m.id = model_id AND dwc._row_visible(m.owner, m.owner_user))');
SELECT dwc._enable_owner_rls('dwc.rec_versions',
    'EXISTS (SELECT 1 FROM dwc.rec_models m WHERE m.id = model_id AND dwc._row_visible(m.owner, m.owner_user))');
SELECT dwc.audit_table('dwc.rec_models');

SELECT dwc._declare_resolver('dwc._rec_resolve', 'dwc.rec_models', 'a recommendation model', 'Create it with dwc.rec_create_model().');

CREATE FUNCTION dwc._rec_interact(caller pg_catalog.oid, user_id pg_catalog.text, item_id pg_catalog.text,
                                  value pg_catalog.float8 DEFAULT 1, kind pg_catalog.text DEFAULT 'rating',
                                  context pg_catalog.jsonb DEFAULT '{}',
                                  at pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id int8;
BEGIN
    IF context IS NOT NULL AND jsonb_typeof(context) <> 'object' THEN
        RAISE EXCEPTION 'an interaction''s context must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.rec_interactions (user_id, item_id, value, kind, context, at, owner, owner_user)
    VALUES (user_id, item_id, coalesce(value, 1), coalesce(kind, 'rating'), coalesce(context, '{}'),
            coalesce(at, clock_timestamp()), caller, dwc.current_user_id())
    RETURNING id INTO new_id;
    IF dwc._citus_table_type('dwc.rec_interactions') = 'distributed' THEN
        PERFORM dwc._rec_fold_in_user(caller, dwc.current_user_id(), user_id);
    END IF;
    RETURN new_id;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        RAISE EXCEPTION 'invalid interaction: %', SQLERRM USING ERRCODE = 'invalid_parameter_value',
            HINT = 'user_id and item_id: 1 to 200 characters; value: a finite number.';
END;
$$;
SELECT dwc._declare_public('dwc._rec_interact',
  'Records that a user interacted with an item (a rating, or the weight of an implicit signal); '
  'deployed factor models of the caller (ALS, implicit ALS, PureSVD, BPR) fold the user in at once. Returns the interaction''s id.');

CREATE FUNCTION dwc._rec_set_item(caller pg_catalog.oid, item_id pg_catalog.text,
                                  features pg_catalog.jsonb DEFAULT NULL,
                                  content pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r dwc.rec_items;
BEGIN
    IF features IS NOT NULL AND jsonb_typeof(features) <> 'object' THEN
        RAISE EXCEPTION 'item features must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.rec_items AS t (owner, owner_user, item_id, features, content)
    VALUES (caller, dwc.current_user_id(), item_id, coalesce(features, '{}'), content)
    ON CONFLICT (owner, coalesce(owner_user, ''), item_id) DO UPDATE
       SET features = coalesce(excluded.features, t.features), content = coalesce(excluded.content, t.content),
           updated_at = now()
    RETURNING * INTO r;
    RETURN jsonb_build_object('item_id', r.item_id, 'features', r.features, 'content', r.content);
END;
$$;
SELECT dwc._declare_public('dwc._rec_set_item',
  'Adds or updates an item''s features (a JSON object) and text.');

CREATE FUNCTION dwc._rec_create_model(caller pg_catalog.oid, name pg_catalog.text,
                                      algorithm pg_catalog.text DEFAULT 'als',
                                      hyperparameters pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.rec_models;
BEGIN
    PERFORM dwc._check_name(name, 'recommendation model');
    PERFORM dwc._rec_check_model(algorithm, coalesce(hyperparameters, '{}'));
    INSERT INTO dwc.rec_models (name, algorithm, hyperparameters, owner, owner_user)
    VALUES (name, algorithm, coalesce(hyperparameters, '{}'), caller, dwc.current_user_id())
    RETURNING * INTO m;
    RETURN jsonb_build_object('id', m.id, 'name', m.name, 'algorithm', m.algorithm,
                              'hyperparameters', m.hyperparameters);
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'recommendation model "%" already exists', name USING ERRCODE = 'duplicate_object',
            HINT = 'Names are unique by their slug (dwc.name_slug): lower case, other characters as _.';
END;
$$;
SELECT dwc._declare_public('dwc._rec_create_model',
  'Creates a recommendation model: als (explicit ratings; rank, lambda, iterations, seed), '
  'implicit_als (implicit feedback, values are weights; rank, lambda, alpha, iterations, seed), '
  'svd (PureSVD: rank, power_iterations, seed), bpr (Bayesian personalised ranking: rank, lambda, '
  'learning_rate, iterations, seed), item_knn and user_knn (neighbors, shrinkage, min_support, '
  'similarity: cosine or adjusted_cosine), content (TF-IDF of item text and features: neighbors, '
  'text_config, feature_weight, max_df), hybrid (models: [{model, weight}], cold_start, '
  'min_interactions) or popularity (half_life_days).');

CREATE FUNCTION dwc._rec_model(caller pg_catalog.oid, model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('id', m.id, 'name', m.name, 'algorithm', m.algorithm,
                                  'hyperparameters', m.hyperparameters, 'deployed_version', m.deployed_version,
                                  'versions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                        'version', v.version, 'users', v.users, 'items', v.items,
                                        'train_interactions', v.train_interactions,
                                        'test_interactions', v.test_interactions, 'metrics', v.metrics,
                                        'training_ms', round(v.training_ms::numeric, 3), 'created_at', v.created_at)
                                        ORDER BY v.version), '[]')
                                     FROM dwc.rec_versions v WHERE v.model_id = m.id))
          FROM dwc._rec_resolve(model, caller) m);
SELECT dwc._declare_public('dwc._rec_model',
  'A recommendation model with every version''s sizes and metrics.');

-- over every interaction: the set form of the ownership rule, its parts computed once
CREATE FUNCTION dwc._rec_stats(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    admin bool := dwc._caller_is_admin(caller);
    roles oid[] := dwc._member_roles(caller);
    me text := dwc.current_user_id();
    seen record;
BEGIN
    -- the interactions in a statement of their own, with plain parameters: Citus may
    -- distribute them (dwc.distribute()), and plans no SQL function's parameters
    SELECT count(*) AS interactions, count(DISTINCT i.user_id) AS users INTO seen
      FROM dwc.rec_interactions i WHERE dwc._in_owner_set(i.owner, i.owner_user, admin, roles, me);
    RETURN (WITH mine AS (SELECT m.* FROM dwc.rec_models m
                           WHERE dwc._in_owner_set(m.owner, m.owner_user, admin, roles, me))
            SELECT jsonb_build_object(
                'models', (SELECT count(*) FROM mine),
                'deployed', (SELECT count(*) FROM mine WHERE deployed_version IS NOT NULL),
                'versions', (SELECT count(*) FROM dwc.rec_versions v JOIN mine ON mine.id = v.model_id),
                'by_algorithm', (SELECT coalesce(jsonb_object_agg(algorithm, n), '{}')
                                   FROM (SELECT algorithm, count(*) AS n FROM mine GROUP BY algorithm) a),
                'interactions', seen.interactions,
                'users', seen.users,
                'items', (SELECT count(*) FROM dwc.rec_items i
                           WHERE dwc._in_owner_set(i.owner, i.owner_user, admin, roles, me))));
END;
$$;
SELECT dwc._declare_public('dwc._rec_stats',
  'The caller''s recommenders: models, deployed, versions, by algorithm, and the interactions, users and items they '
  'learn from (everyone''s for administrators).',
  access => 'user', grp => 'recommendations', route => 'GET /recommendations/stats');

CREATE FUNCTION dwc._rec_delete_model(caller pg_catalog.oid, model pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    DELETE FROM dwc.rec_models WHERE id = (SELECT (dwc._rec_resolve(model, caller)).id);
    SELECT true;
END;
SELECT dwc._declare_public('dwc._rec_delete_model',
  'Deletes a recommendation model and its versions.');

CREATE FUNCTION dwc._rec_check_model(algorithm pg_catalog.text, hyperparameters pg_catalog.jsonb)
RETURNS void
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__rec_check_model';

CREATE FUNCTION dwc._rec_recommend_all(caller pg_catalog.oid, model pg_catalog.text,
                                       n pg_catalog.int4 DEFAULT 10)
RETURNS pg_catalog.int4
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.rec_models := dwc._rec_resolve(model, caller);
    users int4;
    everyone text[];
BEGIN
    IF m.deployed_version IS NULL THEN
        RAISE EXCEPTION 'recommendation model "%" has no trained version', model
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train it with dwc.rec_train().';
    END IF;
    IF n IS NULL OR n < 1 OR n > 10000 THEN
        RAISE EXCEPTION 'n must be from 1 to 10000, not %', n USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- every user of the owner's interactions, their lists made in one call (which says its own
    -- progress, as a job); the model named by id, so that it resolves here
    -- the users first, in a statement of their own: when Citus distributes the interactions,
    -- a statement reading them sends the calls in it to the worker nodes, which hold no model
    everyone := ARRAY(SELECT DISTINCT i.user_id FROM dwc.rec_interactions i
                       WHERE i.owner = m.owner AND coalesce(i.owner_user, '') = coalesce(m.owner_user, ''));
    INSERT INTO dwc.rec_batches AS b (model_id, user_id, version, items)
    SELECT m.id, u.user_id, m.deployed_version, coalesce(r.items, '[]')
      FROM unnest(everyone) u (user_id)
      LEFT JOIN (SELECT r.user_id,
                        jsonb_agg(jsonb_build_object('item_id', r.item_id, 'score', r.score) ORDER BY r.rank) AS items
                   FROM dwc.recommend_many('#' || m.id, NULL, n) r
                  GROUP BY r.user_id) r ON r.user_id = u.user_id
    ON CONFLICT (model_id, user_id) DO UPDATE
       SET version = excluded.version, items = excluded.items, made_at = now();
    GET DIAGNOSTICS users = ROW_COUNT;
    RETURN users;
END;
$$;
SELECT dwc._declare_public('dwc._rec_recommend_all',
  'Makes the n recommendations of the deployed version for every user of the model''s owner and '
  'keeps them in dwc.rec_batches (one row per user, replaced each time); returns how many users. '
  'As a job: dwc.enqueue(''rec.recommend_all'', ''{"model": ..., "n": ...}'').');

-- fold-in: a new interaction updates its user's factors in every deployed model with
-- factors (ALS, implicit ALS, PureSVD) of its owner, in the same transaction
CREATE FUNCTION dwc._rec_fold_in() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__rec_fold_in';
CREATE TRIGGER rec_fold_in AFTER INSERT ON dwc.rec_interactions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._rec_fold_in();
CREATE FUNCTION dwc._rec_fold_in_user(owner pg_catalog.oid, owner_user pg_catalog.text, user_id pg_catalog.text)
RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__rec_fold_in_user';
COMMENT ON FUNCTION dwc._rec_fold_in_user(pg_catalog.oid, pg_catalog.text, pg_catalog.text) IS
  'Private: the fold-in of one user of an owner, for rec_interact() when dwc.rec_interactions is distributed by '
  'Citus (its trigger then fires on the worker nodes, which hold no model).';

-- on a Citus cluster, spread by owner: an owner's interactions on one worker node, so that
-- training reads one shard (docs/scaling.md)
INSERT INTO dwc.distributable_tables (table_name, column_name, prepare)
VALUES ('dwc.rec_interactions', 'owner',
        'ALTER TABLE dwc.rec_interactions DROP CONSTRAINT rec_interactions_pkey, ADD PRIMARY KEY (owner, id)');

-- API: Public

CREATE FUNCTION dwc.rec_train(model pg_catalog.text, options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_rec_train';
COMMENT ON FUNCTION dwc.rec_train(pg_catalog.text, pg_catalog.jsonb) IS
  'Trains a new version of a model on the caller''s interactions and deploys it. options: test_size '
  '(0.2; interactions held out for the metrics, 0 for none) with split (random or per_user) and seed, '
  'or test_from (a timestamp: hold out the interactions from then on); k (10, for the ranking metrics), '
  'relevant (the least value that counts as relevant in them; default: any). A hybrid is evaluated as '
  'a whole, its components fitted afresh on the training share. Returns the version.';

CREATE FUNCTION dwc.recommend(user_id pg_catalog.text, model pg_catalog.text, n pg_catalog.int4 DEFAULT 10,
                              exclude_interacted pg_catalog.bool DEFAULT true, filter pg_catalog.jsonb DEFAULT NULL)
RETURNS TABLE (item_id pg_catalog.text, score pg_catalog.float8)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_recommend';
COMMENT ON FUNCTION dwc.recommend(pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.bool, pg_catalog.jsonb) IS
  'The n items the deployed version of model scores highest for user_id, best first; without the '
  'items the user interacted with (exclude_interacted), and only items whose features contain '
  'filter (jsonb @>), when given. A user the model does not know gets the most popular items.';

CREATE FUNCTION dwc.similar_items(item_id pg_catalog.text, model pg_catalog.text, n pg_catalog.int4 DEFAULT 10)
RETURNS TABLE (item_id pg_catalog.text, score pg_catalog.float8)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_similar_items';
COMMENT ON FUNCTION dwc.similar_items(pg_catalog.text, pg_catalog.text, pg_catalog.int4) IS
  'The n items closest to item_id (cosine of their factors) in the deployed version of an ALS model.';

CREATE FUNCTION dwc.rec_predict(model pg_catalog.text, user_ids pg_catalog.text[], item_ids pg_catalog.text[])
RETURNS TABLE (user_id pg_catalog.text, item_id pg_catalog.text, predicted pg_catalog.float8)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_rec_predict';
COMMENT ON FUNCTION dwc.rec_predict(pg_catalog.text, pg_catalog.text[], pg_catalog.text[]) IS
  'The deployed version''s predicted value of many (user, item) pairs at once, element k of user_ids with element '
  'k of item_ids, in the order given: a rating for als, item_knn and user_knn, the score for the other factor '
  'models and content; NULL for a user or item the version does not know. Each user is scored once.';

CREATE FUNCTION dwc.recommend_many(model pg_catalog.text, user_ids pg_catalog.text[] DEFAULT NULL,
                                   n pg_catalog.int4 DEFAULT 10, exclude_interacted pg_catalog.bool DEFAULT true)
RETURNS TABLE (user_id pg_catalog.text, item_id pg_catalog.text, score pg_catalog.float8, rank pg_catalog.int4)
LANGUAGE c STABLE ROWS 10000 AS 'MODULE_PATHNAME', 'dwc_recommend_many';
COMMENT ON FUNCTION dwc.recommend_many(pg_catalog.text, pg_catalog.text[], pg_catalog.int4, pg_catalog.bool) IS
  'The n items the deployed version scores highest for each of user_ids (NULL: every user of the '
  'model''s owner, in byte order), as recommend() gives them, ranked from 1; in one call that reads the '
  'owner''s interactions once and scores a factor model''s users a block at a time.';

CREATE FUNCTION dwc.rec_explain(user_id pg_catalog.text, item_id pg_catalog.text, model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_rec_explain';
COMMENT ON FUNCTION dwc.rec_explain(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Why model scores item_id for user_id: the predicted value, and the items the user interacted with '
  'that are most similar to it.';

-- ---- retraining as a job ------------------------------------------------------------------

-- API: Private

CREATE FUNCTION dwc._job_rec_train(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
BEGIN
    r := dwc.rec_train(payload->>'model',
                       CASE WHEN jsonb_typeof(payload->'options') = 'object' THEN payload->'options' ELSE '{}' END);
    RETURN jsonb_build_object('ok', true) || r;
END;
$$;
COMMENT ON FUNCTION dwc._job_rec_train(pg_catalog.jsonb) IS
  'Private: handler of rec.train jobs ({"model", "options"}); runs as the job''s enqueuer. Bad input '
  'ends the job dead with {"ok": false}; other errors are retried by the queue.';
-- the handler runs as the job's enqueuer
GRANT EXECUTE ON FUNCTION dwc._job_rec_train(pg_catalog.jsonb) TO PUBLIC;

-- leased: training runs after the worker's claiming transaction has committed
SELECT dwc.register_job_kind('rec.train', 'dwc._job_rec_train(pg_catalog.jsonb)',
                             'Retrains a recommendation model ({"model", "options"}); schedule it for periodic retrains.',
                             interval '1 hour', 3, true,
                             final_errors => '{invalid_parameter_value, undefined_object, no_data_found, feature_not_supported}');

-- ---- batch recommendations as a job ---------------------------------------------------------

CREATE FUNCTION dwc._job_rec_recommend_all(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object('ok', true, 'users',
                              dwc.rec_recommend_all(payload->>'model', coalesce((payload->>'n')::int4, 10)));
END;
$$;
COMMENT ON FUNCTION dwc._job_rec_recommend_all(pg_catalog.jsonb) IS
  'Private: handler of rec.recommend_all jobs ({"model", "n"}); runs as the job''s enqueuer.';
-- the handler runs as the job's enqueuer
GRANT EXECUTE ON FUNCTION dwc._job_rec_recommend_all(pg_catalog.jsonb) TO PUBLIC;

SELECT dwc.register_job_kind('rec.recommend_all', 'dwc._job_rec_recommend_all(pg_catalog.jsonb)',
                             'Makes recommendations for every user of a model into dwc.rec_batches ({"model", "n"}).',
                             interval '1 hour', 3, true,
                             final_errors => '{invalid_parameter_value, no_data_found, object_not_in_prerequisite_state, invalid_text_representation}');
