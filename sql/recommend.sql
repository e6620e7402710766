-- recommend: the recommender on small data with known answers: ALS recovers planted
-- ratings, popularity counts, fold-in, the filters, the metrics, and every error of bad input.
SET client_min_messages = warning;

-- planted ratings r = 3 + a_u * b_i for 6 users x 6 items (rank 2 with the offset from the mean
-- of the ratings left in); each user leaves out the
-- item planted highest for them, which ALS must then recommend first
CREATE TEMP TABLE planted AS
SELECT 'u' || u AS user_id, 'i' || i AS item_id,
       3 + ((u - 3.5) / 2.5) * ((i - 3.5) / 2.5) * 2 AS value
  FROM generate_series(1, 6) u, generate_series(1, 6) i;
-- the best item of users 1-3 is i1, of users 4-6 i6: leave those out
SELECT count(dwc.rec_interact(user_id, item_id, value)) AS recorded
  FROM planted
 WHERE NOT ((user_id IN ('u1', 'u2', 'u3') AND item_id = 'i1') OR (user_id IN ('u4', 'u5', 'u6') AND item_id = 'i6'));
SELECT dwc.rec_create_model('planted', 'als', '{"rank": 2, "lambda": 0.0001, "iterations": 50}') ->> 'name' AS model;
SELECT r->>'version' AS version, r->>'users' AS users, r->>'items' AS items, r->>'train_interactions' AS trained
  FROM dwc.rec_train('planted', '{"test_size": 0}') r;
-- the held-out best items come first
SELECT user_id, (SELECT item_id FROM dwc.recommend(user_id, 'planted', 1)) AS first
  FROM (VALUES ('u1'), ('u3'), ('u4'), ('u6')) v(user_id);
-- and the predictions are the planted values
SELECT r.item_id, round(r.score::numeric, 2) AS predicted, round(p.value::numeric, 2) AS planted
  FROM dwc.recommend('u1', 'planted', 6, exclude_interacted => false) r
  JOIN planted p ON p.user_id = 'u1' AND p.item_id = r.item_id
 ORDER BY r.score DESC;
-- items planted alike are similar: i1 is closest to i2, then i3
SELECT item_id FROM dwc.similar_items('i1', 'planted', 2);
SELECT e->>'known_user' AS known, round((e->>'predicted')::numeric, 2) AS predicted,
       e->'because_of'->0->>'item_id' AS most_like
  FROM dwc.rec_explain('u1', 'i1', 'planted') e;
-- many pairs of a factor model at once: the values rec_explain reports, in the order given; NULL
-- for a user or an item the version does not know, and for a NULL user
SELECT p.user_id, p.item_id, round(p.predicted::numeric, 2) AS predicted,
       CASE WHEN p.predicted IS NOT NULL
            THEN abs(p.predicted - (dwc.rec_explain(p.user_id, p.item_id, 'planted')->>'predicted')::float8) < 1e-4
       END AS as_explained
  FROM dwc.rec_predict('planted', ARRAY['u3', 'u1', 'nobody', 'u3', NULL, 'u1', 'u1'],
                       ARRAY['i2', 'i1', 'i1', 'i5', 'i1', 'no-such-item', 'i6']) p;

-- real-time fold-in: a new user's factors appear with their first interaction, and one who
-- rates like u1 gets u1's best item
SELECT count(*) AS before FROM dwc.rec_factors WHERE side = 'u' AND id = 'newbie';
SELECT dwc.rec_interact('newbie', 'i2', 4.2) > 0 AS recorded;
SELECT count(*) AS after FROM dwc.rec_factors WHERE side = 'u' AND id = 'newbie';
SELECT count(dwc.rec_interact('newbie', item_id, value)) FROM (VALUES ('i5', 1.8), ('i6', 1.0)) v(item_id, value);
SELECT item_id FROM dwc.recommend('newbie', 'planted', 1);
-- an unknown user gets the most interacted items
SELECT count(*) AS fallback FROM dwc.recommend('stranger', 'planted', 3);

-- filters on item features
SELECT dwc.rec_set_item('i' || i, jsonb_build_object('colour', CASE WHEN i % 2 = 0 THEN 'red' ELSE 'blue' END)) ->> 'item_id'
  FROM generate_series(1, 6) i;
SELECT item_id FROM dwc.recommend('u1', 'planted', 6, false, '{"colour": "red"}') ORDER BY item_id;

-- held-out metrics: a regularised model beats predicting the mean, and finds relevant items
SELECT dwc.rec_create_model('planted_eval', 'als', '{"rank": 2, "lambda": 0.05, "iterations": 30}') ->> 'name' AS model;
SELECT (r->'metrics'->>'rmse')::float8 < (r->'metrics'->>'rmse_of_mean')::float8 AS beats_the_mean,
       (r->'metrics'->>'mae')::float8 > 0 AS mae, (r->'metrics'->>'precision_at_k')::float8 > 0 AS precise,
       (r->'metrics'->>'recall_at_k')::float8 BETWEEN 0 AND 1 AS recall,
       (r->'metrics'->>'ndcg_at_k')::float8 BETWEEN 0 AND 1 AS ndcg,
       (r->'metrics'->>'map_at_k')::float8 BETWEEN 0 AND 1 AS map,
       (r->'metrics'->>'coverage')::float8 > 0 AS covers, (r->>'test_interactions')::int AS held_out
  FROM dwc.rec_train('planted_eval', '{"test_size": 0.25, "seed": 7, "k": 3}') r;
SELECT jsonb_array_length(dwc.rec_model('planted')->'versions') AS versions,
       dwc.rec_model('planted')->>'deployed_version' AS deployed;
SELECT (dwc.rec_train('planted', '{"test_size": 0}')) ->> 'version' AS retrained;
SELECT jsonb_array_length(dwc.rec_model('planted')->'versions') AS versions,
       dwc.rec_model('planted')->>'deployed_version' AS deployed;

-- implicit ALS: clicks of two groups of users on two groups of items; a user of the first
-- group who has not clicked one of its items gets it first, and a newcomer who clicks two
-- items of the second group gets the other two. Another owner: its models see only its rows.
CREATE ROLE dwc_rec_clicks IN ROLE dwc_user;
SET ROLE dwc_rec_clicks;
SELECT count(dwc.rec_interact(u, i, 1, kind => 'click'))
  FROM (SELECT 'c' || g || '-' || n AS u, 'p' || g || '-' || m AS i
          FROM generate_series(1, 2) g, generate_series(1, 6) n, generate_series(1, 4) m
         WHERE NOT (g = 1 AND n = 1 AND m = 4)) c;
SELECT dwc.rec_create_model('clicks', 'implicit_als', '{"rank": 4, "lambda": 0.1, "alpha": 10, "iterations": 15}') ->> 'algorithm';
SELECT (dwc.rec_train('clicks', '{"test_size": 0}')) ->> 'version' AS version;
SELECT item_id FROM dwc.recommend('c1-1', 'clicks', 1);
SELECT count(dwc.rec_interact('clicker', i, 1, kind => 'click')) FROM (VALUES ('p2-1'), ('p2-2')) v(i);
SELECT item_id FROM dwc.recommend('clicker', 'clicks', 2) ORDER BY item_id;
-- PureSVD (truncated SVD of the zero-filled matrix) on the same clicks finds the same items
SELECT dwc.rec_create_model('clicks_svd', 'svd', '{"rank": 2}') ->> 'algorithm';
SELECT r->>'version' AS version, r->'metrics' ? 'rmse' AS rates FROM dwc.rec_train('clicks_svd', '{"test_size": 0}') r;
SELECT item_id FROM dwc.recommend('c1-1', 'clicks_svd', 1);
SELECT item_id FROM dwc.recommend('clicker', 'clicks_svd', 2) ORDER BY item_id;
SELECT item_id FROM dwc.similar_items('p1-1', 'clicks_svd', 3) ORDER BY item_id;
-- item-based kNN (cosine, shrunk) on the same clicks: the same items, and their neighbours
SELECT dwc.rec_create_model('clicks_knn', 'item_knn', '{"neighbors": 3, "shrinkage": 1}') ->> 'algorithm';
SELECT r->>'version' AS version FROM dwc.rec_train('clicks_knn', '{"test_size": 0}') r;
SELECT item_id FROM dwc.recommend('c1-1', 'clicks_knn', 1);
SELECT item_id FROM dwc.recommend('clicker', 'clicks_knn', 2) ORDER BY item_id;
SELECT item_id, round(score::numeric, 3) AS similarity FROM dwc.similar_items('p1-1', 'clicks_knn', 3) ORDER BY item_id;
SELECT e->>'known_user' AS known, e->'because_of'->0->>'item_id' IS NOT NULL AS because
  FROM dwc.rec_explain('c1-1', 'p1-4', 'clicks_knn') e;
-- a minimum similarity leaves the less similar neighbours out (shrunk by 1 co-click in 2 or
-- so, none of these reaches 0.9); the hyperparameters as trained say it
SELECT dwc.rec_create_model('clicks_knn_min', 'item_knn', '{"neighbors": 3, "shrinkage": 1, "min_similarity": 0.9}') ->> 'algorithm';
SELECT r->>'version' AS version FROM dwc.rec_train('clicks_knn_min', '{"test_size": 0}') r;
SELECT count(*) AS neighbours FROM dwc.similar_items('p1-1', 'clicks_knn_min', 3);
SELECT (v.hyperparameters ->> 'min_similarity')::float8 AS min_similarity
  FROM dwc.rec_versions v JOIN dwc.rec_models m ON m.id = v.model_id WHERE m.name = 'clicks_knn_min';
-- user-based kNN: the users who click alike decide
SELECT dwc.rec_create_model('clicks_uknn', 'user_knn', '{"neighbors": 5, "shrinkage": 1}') ->> 'algorithm';
SELECT r->>'version' AS version FROM dwc.rec_train('clicks_uknn', '{"test_size": 0}') r;
SELECT item_id FROM dwc.recommend('c1-1', 'clicks_uknn', 1);
SELECT item_id FROM dwc.recommend('c2-3', 'clicks_uknn', 4, false) ORDER BY item_id;
SELECT * FROM dwc.similar_items('p1-1', 'clicks_uknn');
-- BPR on the same clicks: the same items first, and a newcomer folded in from their clicks
SELECT dwc.rec_create_model('clicks_bpr', 'bpr', '{"rank": 4, "iterations": 200, "learning_rate": 0.1}') ->> 'algorithm';
SELECT r->>'version' AS version, r->'metrics' ? 'rmse' AS rates FROM dwc.rec_train('clicks_bpr', '{"test_size": 0}') r;
SELECT item_id FROM dwc.recommend('c1-1', 'clicks_bpr', 1);
SELECT item_id FROM dwc.recommend('clicker', 'clicks_bpr', 2) ORDER BY item_id;
SELECT count(dwc.rec_interact('bpr-new', i, 1, kind => 'click')) FROM (VALUES ('p1-1'), ('p1-2')) v(i);
SELECT e->>'known_user' AS folded FROM dwc.rec_explain('bpr-new', 'p1-3', 'clicks_bpr') e;
SELECT item_id FROM dwc.recommend('bpr-new', 'clicks_bpr', 2) ORDER BY item_id;
SELECT item_id FROM dwc.similar_items('p1-1', 'clicks_bpr', 3) ORDER BY item_id;
SELECT (r->'metrics'->>'recall_at_k')::float8 > 0.5 AS ranks FROM dwc.rec_train('clicks_bpr', '{"test_size": 0.3}') r;
-- content-based: the items' text and features; p1-new is about crime like p1-1..p1-4 but nobody
-- has clicked it, and it is recommended to the crime readers all the same
SELECT count(dwc.rec_set_item(i, jsonb_build_object('genre', g, 'tags', t::jsonb), c)) FROM (VALUES
 ('p1-1', 'crime', '["dark"]', 'A detective hunts a murderer through Seville at night'),
 ('p1-2', 'crime', '["dark", "police"]', 'The murder of a banker puzzles the old detective'),
 ('p1-3', 'crime', '["police"]', 'A police inspector and a detective chase a killer'),
 ('p1-4', 'crime', '[]', 'Murder on the night train: the detective returns'),
 ('p1-new', 'crime', '["dark"]', 'A new detective story: murder in the harbour'),
 ('p2-1', 'cooking', '["easy"]', 'Quick recipes for the kitchen: pasta and sauces'),
 ('p2-2', 'cooking', '["easy"]', 'Baking bread at home, recipes for beginners'),
 ('p2-3', 'cooking', '[]', 'The kitchen garden: recipes from vegetables'),
 ('p2-4', 'cooking', '["vegan"]', 'Vegan recipes for every kitchen')) v(i, g, t, c);
SELECT dwc.rec_create_model('clicks_content', 'content', '{"neighbors": 5, "text_config": "english"}') ->> 'algorithm';
SELECT r->>'items' AS items, (r->'metrics'->>'k') AS k FROM dwc.rec_train('clicks_content', '{"test_size": 0}') r;
SELECT item_id FROM dwc.similar_items('p1-1', 'clicks_content', 4) ORDER BY item_id;
SELECT item_id FROM dwc.similar_items('p2-1', 'clicks_content', 3) ORDER BY item_id;
SELECT item_id FROM dwc.recommend('c1-1', 'clicks_content', 5) ORDER BY item_id;
SELECT item_id FROM dwc.recommend('clicker', 'clicks_content', 5) ORDER BY item_id;
SELECT e->>'known_user' AS known, (e->>'predicted')::float8 > 0 AS predicted, e->'because_of'->0->>'item_id' AS most_like
  FROM dwc.rec_explain('c1-1', 'p1-new', 'clicks_content') e;
SELECT (r->'metrics'->>'recall_at_k')::float8 > 0.5 AS ranks FROM dwc.rec_train('clicks_content', '{"test_size": 0.3}') r;
-- features alone (no text) are enough: the genres
SELECT dwc.rec_create_model('clicks_genre', 'content', '{"text_config": "simple", "feature_weight": 1}') ->> 'algorithm';
SELECT r->'version' AS version FROM dwc.rec_train('clicks_genre', '{"test_size": 0}') r;
SELECT count(*) AS crime FROM dwc.similar_items('p1-new', 'clicks_genre', 10) WHERE item_id LIKE 'p1-%';
-- hybrid: implicit ALS and content, weighted; users with fewer than 2 clicks get content alone
SELECT dwc.rec_create_model('clicks_hybrid', 'hybrid',
    '{"models": [{"model": "clicks", "weight": 1}, {"model": "clicks_content", "weight": 1}],
      "cold_start": "clicks_content", "min_interactions": 2}') ->> 'algorithm';
SELECT r->>'version' AS version, jsonb_object_keys(r->'metrics'->'components') AS component
  FROM dwc.rec_train('clicks_hybrid') r ORDER BY 2;
SELECT (SELECT version FROM dwc.rec_versions v WHERE v.model_id = m.id) AS version,
       jsonb_path_query_array(v.hyperparameters, '$.models[*].model') AS models
  FROM dwc.rec_models m JOIN dwc.rec_versions v ON v.model_id = m.id WHERE m.name = 'clicks_hybrid';
-- the item both like (p1-4) before the one only content knows (p1-new), then nothing of p1 is left
SELECT item_id, round(score::numeric, 4) AS score FROM dwc.recommend('c1-1', 'clicks_hybrid', 2);
SELECT e->>'strategy' AS strategy, e->'components'->0->>'score' AS als, e->'components'->1->>'rank' AS content_rank
  FROM dwc.rec_explain('c1-1', 'p1-new', 'clicks_hybrid') e;
SELECT dwc.rec_interact('cold1', 'p2-1', 1, kind => 'click') > 0 AS recorded;
SELECT item_id FROM dwc.recommend('cold1', 'clicks_hybrid', 3) ORDER BY item_id;
SELECT e->>'strategy' AS strategy, jsonb_array_length(e->'components') AS components
  FROM dwc.rec_explain('cold1', 'p2-2', 'clicks_hybrid') e;
SELECT * FROM dwc.similar_items('p1-1', 'clicks_hybrid');
-- a hybrid is evaluated as a whole: its components fitted on the training share, fused per user
SELECT r->>'test_interactions' AS held_out,
       r->'metrics' ?& array['precision_at_k', 'recall_at_k', 'ndcg_at_k', 'map_at_k', 'coverage'] AS evaluated,
       r->'metrics'->'components' ? 'clicks' AS with_components
  FROM dwc.rec_train('clicks_hybrid', '{"test_size": 0.1}') r;
SELECT dwc.rec_train('clicks_hybrid', '{"test_size": 0}') -> 'metrics' ? 'precision_at_k' AS evaluated_without_split;
SELECT dwc.rec_create_model('h', 'hybrid', '{}');
SELECT dwc.rec_create_model('h', 'hybrid', '{"models": "clicks"}');
SELECT dwc.rec_create_model('h', 'hybrid', '{"models": [{"model": "clicks", "weight": 0}]}');
SELECT dwc.rec_create_model('h', 'hybrid', '{"models": [{"model": "a"}, {"model": "b"}, {"model": "c"}, {"model": "d"}, {"model": "e"}]}');
SELECT dwc.rec_create_model('h_of_h', 'hybrid', '{"models": [{"model": "clicks_hybrid"}]}') ->> 'name';
SELECT dwc.rec_train('h_of_h');
SELECT dwc.rec_create_model('h_missing', 'hybrid', '{"models": [{"model": "nope"}]}') ->> 'name';
SELECT dwc.rec_train('h_missing');
SELECT dwc.rec_create_model('h_untrained', 'hybrid', '{"models": [{"model": "clicks"}], "cold_start": "clicks_genre_2"}') ->> 'name';
SELECT dwc.rec_create_model('clicks_genre_2', 'content') ->> 'name';
SELECT dwc.rec_train('h_untrained');
SELECT dwc.rec_create_model('x', 'content', '{"text_config": "klingon"}');
SELECT dwc.rec_create_model('x', 'content', '{"max_df": 0}');
SELECT dwc.rec_create_model('x', 'bpr', '{"learning_rate": 0}');
SELECT dwc.rec_create_model('x', 'bpr', '{"alpha": 1}');
SELECT dwc.rec_create_model('x', 'implicit_als', '{"alpha": -1}');
SELECT dwc.rec_create_model('x', 'item_knn', '{"similarity": "jaccard"}');
SELECT dwc.rec_create_model('x', 'user_knn', '{"min_similarity": 2}');
SELECT dwc.rec_create_model('x', 'svd', '{"lambda": 1}');
SELECT * FROM dwc.recommend('u1', 'planted', 1);
RESET ROLE;

-- item-based kNN with the adjusted cosine on the planted ratings: u1's best held-out item first,
-- and held-out predictions
SELECT dwc.rec_create_model('planted_knn', 'item_knn', '{"similarity": "adjusted_cosine", "shrinkage": 0}') ->> 'name';
SELECT (r->>'train_interactions')::int > 0 AS trained FROM dwc.rec_train('planted_knn', '{"test_size": 0}') r;
SELECT item_id FROM dwc.recommend('u1', 'planted_knn', 1);
SELECT (r->'metrics'->>'rmse')::float8 < (r->'metrics'->>'rmse_of_mean')::float8 AS beats_the_mean
  FROM dwc.rec_train('planted_knn', '{"test_size": 0.3, "seed": 3}') r;
-- a per-user split holds out round(test_size x n) of each user's n interactions
SELECT (r->>'test_interactions')::int = (SELECT sum(round(0.4 * n))::int FROM (
            SELECT count(DISTINCT item_id) AS n FROM dwc.rec_interactions
             WHERE owner = 'postgres'::regrole GROUP BY user_id) u) AS per_user
  FROM dwc.rec_train('planted_knn', '{"split": "per_user", "test_size": 0.4, "seed": 5}') r;

-- batch recommendations for every user
SELECT dwc.rec_recommend_all('planted', 2) AS users;
SELECT user_id, items->0->>'item_id' AS first, jsonb_array_length(items) AS n
  FROM dwc.rec_batches WHERE user_id IN ('u1', 'u6') ORDER BY user_id;
SELECT dwc.rec_recommend_all('planted', 0);
-- many users in one call: each user's list is recommend()'s, ranked from 1, for factor and kNN models
SELECT m AS model,
       (SELECT count(*) FROM dwc.recommend_many(m, NULL, 3)) AS rows,
       (SELECT count(*) FROM (
            (SELECT user_id, rank, item_id, round(score::numeric, 9) FROM dwc.recommend_many(m, NULL, 3)
             EXCEPT ALL
             SELECT u.user_id, r.rank::int4, r.item_id, round(r.score::numeric, 9)
               FROM (SELECT DISTINCT user_id FROM dwc.rec_interactions WHERE owner = 'postgres'::regrole) u,
                    LATERAL (SELECT item_id, score, row_number() OVER () AS rank
                               FROM dwc.recommend(u.user_id, m, 3)) r)
            UNION ALL
            (SELECT u.user_id, r.rank::int4, r.item_id, round(r.score::numeric, 9)
               FROM (SELECT DISTINCT user_id FROM dwc.rec_interactions WHERE owner = 'postgres'::regrole) u,
                    LATERAL (SELECT item_id, score, row_number() OVER () AS rank
                               FROM dwc.recommend(u.user_id, m, 3)) r
             EXCEPT ALL
             SELECT user_id, rank, item_id, round(score::numeric, 9) FROM dwc.recommend_many(m, NULL, 3))) d
       ) AS differences
  FROM unnest(ARRAY['planted', 'planted_knn']) m ORDER BY m;
SELECT user_id, rank, item_id FROM dwc.recommend_many('planted', ARRAY['u6', 'newcomer', 'u6'], 1);
SELECT count(*) FROM dwc.recommend_many('planted', ARRAY['u1'], 5, false) WHERE item_id IN (
    SELECT item_id FROM dwc.rec_interactions WHERE user_id = 'u1' AND owner = 'postgres'::regrole);
SELECT * FROM dwc.recommend_many('planted', ARRAY['u1', NULL]);
SELECT * FROM dwc.recommend_many('planted', NULL, 0);
SELECT * FROM dwc.recommend('u1', '#999999', 1);

-- user-based kNN with the adjusted cosine on the planted ratings
SELECT dwc.rec_create_model('planted_uknn', 'user_knn', '{"similarity": "adjusted_cosine", "shrinkage": 0}') ->> 'name';
SELECT (r->>'train_interactions')::int > 0 AS trained FROM dwc.rec_train('planted_uknn', '{"test_size": 0}') r;
SELECT item_id FROM dwc.recommend('u1', 'planted_uknn', 1);
-- user-kNN for many users: the neighbour lists and the neighbours' interactions read once
SELECT count(*) AS differences FROM (
    (SELECT user_id, rank, item_id FROM dwc.recommend_many('planted_uknn', NULL, 3)
     EXCEPT ALL
     SELECT u.user_id, r.rank::int4, r.item_id
       FROM (SELECT DISTINCT user_id FROM dwc.rec_interactions WHERE owner = 'postgres'::regrole) u,
            LATERAL (SELECT item_id, row_number() OVER () AS rank FROM dwc.recommend(u.user_id, 'planted_uknn', 3)) r)
    UNION ALL
    (SELECT u.user_id, r.rank::int4, r.item_id
       FROM (SELECT DISTINCT user_id FROM dwc.rec_interactions WHERE owner = 'postgres'::regrole) u,
            LATERAL (SELECT item_id, row_number() OVER () AS rank FROM dwc.recommend(u.user_id, 'planted_uknn', 3)) r
     EXCEPT ALL
     SELECT user_id, rank, item_id FROM dwc.recommend_many('planted_uknn', NULL, 3))) d;
SELECT count(*) AS rows FROM dwc.recommend_many('planted_uknn', ARRAY['u1', 'newcomer'], 2);
SELECT (r->'metrics'->>'rmse')::float8 >= 0 AS rates, (r->'metrics'->>'precision_at_k')::float8 >= 0 AS ranks
  FROM dwc.rec_train('planted_uknn', '{"test_size": 0.3, "seed": 3}') r;

-- the science-fiction reader gets science fiction. Eight readers rate science fiction (sf-1 ..
-- sf-6) 4 or 5, eight cooks rate cookery (cook-1 .. cook-6) 4 or 5, one omnivore rates sf-1
-- and every cookery book 5. A reader who rated sf-1, sf-2 and sf-3 5 must get the other three
-- science-fiction books first from item-kNN, user-kNN and a hybrid of item-kNN: neighbourhood
-- scores sum the similarities, so one shared rating (the omnivore's) cannot put cookery on top
CREATE ROLE dwc_rec_books IN ROLE dwc_user;
SET ROLE dwc_rec_books;
SELECT count(dwc.rec_interact(u, i, v))
  FROM (SELECT 'fan-' || n AS u, 'sf-' || m AS i, 4 + (n + m) % 2 AS v FROM generate_series(1, 8) n, generate_series(1, 6) m
        UNION ALL
        SELECT 'cook-' || n, 'cook-' || m, 4 + (n + m) % 2 FROM generate_series(1, 8) n, generate_series(1, 6) m
        UNION ALL
        SELECT 'omnivore', i, 5 FROM unnest(ARRAY['sf-1', 'cook-1', 'cook-2', 'cook-3', 'cook-4', 'cook-5', 'cook-6']) i
        UNION ALL
        SELECT 'reader', 'sf-' || m, 5 FROM generate_series(1, 3) m) r;
SELECT dwc.rec_create_model('books_knn', 'item_knn', '{"neighbors": 20}') ->> 'algorithm';
SELECT dwc.rec_create_model('books_uknn', 'user_knn', '{"neighbors": 20}') ->> 'algorithm';
SELECT count(dwc.rec_train(m, '{"test_size": 0}')) FROM unnest(ARRAY['books_knn', 'books_uknn']) m;
SELECT dwc.rec_create_model('books_popular', 'popularity') ->> 'algorithm';
SELECT count(dwc.rec_train('books_popular', '{"test_size": 0}'));
SELECT dwc.rec_create_model('books_hybrid', 'hybrid',
    '{"models": [{"model": "books_knn", "weight": 1}, {"model": "books_popular", "weight": 0.2}]}') ->> 'algorithm';
SELECT count(dwc.rec_train('books_hybrid'));
SELECT m AS model, array_agg(r.item_id ORDER BY r.score DESC, r.item_id) AS top3
  FROM unnest(ARRAY['books_knn', 'books_uknn', 'books_hybrid']) m, dwc.recommend('reader', m, 3) r
 GROUP BY m ORDER BY m;
-- a predicted rating for every item: the baseline (mean + user and item biases) plus the
-- neighbours' deviations from theirs. The reader rated all 5, so a rating cannot tell the
-- genres apart (the ranking above does); user-kNN names no other user in its explanation
SELECT m AS model, i AS item_id, round((e->>'predicted')::numeric, 2) AS predicted, e->'because_of' AS because_of
  FROM unnest(ARRAY['books_knn', 'books_uknn']) m, unnest(ARRAY['sf-4', 'cook-2']) i,
       dwc.rec_explain('reader', i, m) e ORDER BY m, i;
-- many pairs at once, in the order given: the values rec_explain reports, NULL for a user or
-- an item the version does not know
SELECT p.user_id, p.item_id, round(p.predicted::numeric, 2) AS predicted,
       CASE WHEN p.predicted IS NOT NULL
            THEN abs(p.predicted - (dwc.rec_explain(p.user_id, p.item_id, 'books_knn')->>'predicted')::float8) < 1e-4
       END AS as_explained
  FROM dwc.rec_predict('books_knn', ARRAY['reader', 'fan-1', 'reader', 'nobody', 'reader', NULL],
                       ARRAY['sf-4', 'cook-1', 'cook-2', 'sf-1', 'no-such-book', 'sf-1']) p;
SELECT * FROM dwc.rec_predict('books_knn', ARRAY['reader'], ARRAY['sf-4', 'sf-5']);
SELECT * FROM dwc.rec_predict('books_popular', ARRAY['reader'], ARRAY['sf-4']);
-- the arrays as PL/pgSQL variables (expanded arrays in the server) get the same answers as
-- the same arrays written out, from a neighbourhood model and from a factor model
SELECT dwc.rec_create_model('books_als', 'als', '{"rank": 2, "iterations": 10}') ->> 'algorithm';
SELECT count(dwc.rec_train('books_als', '{"test_size": 0}'));
CREATE TEMP TABLE from_vars (model text, ord int8, predicted float8);
DO $$
DECLARE
    u text[] := ARRAY['reader', 'fan-1', 'reader', NULL, 'nobody'];
    i text[] := ARRAY['sf-4', 'cook-1', 'no-such-book', 'sf-1', 'sf-2'];
BEGIN
    INSERT INTO from_vars SELECT m, p.ord, p.predicted
      FROM unnest(ARRAY['books_knn', 'books_als']) m, dwc.rec_predict(m, u, i) WITH ORDINALITY p(user_id, item_id, predicted, ord);
END $$;
SELECT v.model, v.ord, v.predicted IS NOT NULL AS predicted, v.predicted IS NOT DISTINCT FROM c.predicted AS same
  FROM from_vars v
  JOIN LATERAL dwc.rec_predict(v.model, ARRAY['reader', 'fan-1', 'reader', NULL, 'nobody'],
                               ARRAY['sf-4', 'cook-1', 'no-such-book', 'sf-1', 'sf-2'])
       WITH ORDINALITY c(user_id, item_id, predicted, ord) ON c.ord = v.ord
 ORDER BY v.model, v.ord;
DROP TABLE from_vars;
SELECT u AS user_id, array_agg(b.item_id ORDER BY b.rank) = (SELECT array_agg(item_id) FROM dwc.recommend(u, 'books_hybrid', 3))
       AS as_recommend
  FROM unnest(ARRAY['reader', 'fan-1', 'nobody']) u, dwc.recommend_many('books_hybrid', ARRAY[u], 3) b
 GROUP BY u ORDER BY u;
SELECT user_id, array_agg(item_id ORDER BY rank) AS top3 FROM dwc.recommend_many('books_uknn', ARRAY['reader'], 3)
 GROUP BY user_id;
SELECT count(*) FROM dwc.rec_predict('books_knn', '{}', '{}');
-- on all-purchase data (every value 1) the scores still rank: buyer-1 bought a-1, a-2 and a-3;
-- a-4 was bought with all three, a-0 with a-1 only. An average of the values scored both 1.00
-- (and a-0 came first by its id); the sum of the similarities puts a-4 first
SELECT count(dwc.rec_interact(u, i, 1, kind => 'purchase'))
  FROM (SELECT 'buyer-' || n AS u, 'a-' || m AS i FROM generate_series(1, 4) n, generate_series(1, 4) m
         WHERE NOT (n = 1 AND m = 4)
        UNION ALL
        SELECT 'buyer-5', i FROM unnest(ARRAY['a-0', 'a-1']) i) p;
SELECT dwc.rec_create_model('buys_knn', 'item_knn', '{"shrinkage": 0}') ->> 'algorithm';
SELECT count(dwc.rec_train('buys_knn', '{"test_size": 0}'));
SELECT item_id, round(score::numeric, 3) AS score FROM dwc.recommend('buyer-1', 'buys_knn', 2);
RESET ROLE;

-- popularity: time-decayed sums
SELECT dwc.rec_create_model('popular', 'popularity', '{"half_life_days": 7}') ->> 'algorithm' AS algorithm;
SELECT (dwc.rec_train('popular', '{"test_size": 0}')) ->> 'version' AS version;
SELECT item_id FROM dwc.recommend('u1', 'popular', 3, false);

-- a model trains on the latest value of each (user, item): by time, then by the later row;
-- ids in byte order (upper case before lower, multibyte after ASCII)
CREATE ROLE dwc_rec_latest IN ROLE dwc_user;
INSERT INTO dwc.rec_interactions (user_id, item_id, value, at, owner)
SELECT u, i, v, now() - d * interval '1 hour', 'dwc_rec_latest'::regrole
  FROM (VALUES ('a', 'x', 5, 5), ('a', 'x', 1, 4), ('b', 'x', 1, 5), ('b', 'y', 2, 3),
               ('c', 'y', 3, 1), ('c', 'y', 4, 1), ('c', 'Y', 2, 1), ('c', 'ý', 1, 4), ('c', 'ý', 7, 5)) r (u, i, v, d);
SET ROLE dwc_rec_latest;
SELECT dwc.rec_create_model('latest', 'popularity', '{"half_life_days": 36500}') ->> 'algorithm' AS algorithm;
SELECT r->>'users' AS users, r->>'items' AS items, r->>'train_interactions' AS pairs FROM dwc.rec_train('latest', '{"test_size": 0}') r;
SELECT item_id, round(score::numeric, 3) AS score FROM dwc.recommend('nobody', 'latest', 5, false);
SELECT dwc.rec_delete_model('latest');
RESET ROLE;
DELETE FROM dwc.rec_interactions WHERE owner = 'dwc_rec_latest'::regrole;
DROP ROLE dwc_rec_latest;

-- every trained version is an event
SELECT kind, payload->>'version' AS version FROM dwc.events
 WHERE kind = 'rec.trained' AND payload->>'model' = 'popular' ORDER BY id;

-- bad input
-- a hybrid combines its own owner's models only: dwc_rec_clicks's "clicks" is not one of ours
SELECT dwc.rec_create_model('h_other', 'hybrid', '{"models": [{"model": "clicks"}]}') ->> 'name';
SELECT dwc.rec_train('h_other');
SELECT dwc.rec_create_model('no_text', 'content', '{"feature_weight": 0}') ->> 'name';
SELECT dwc.rec_train('no_text');
SELECT dwc.rec_create_model('planted', 'als');
SELECT dwc.rec_create_model(E'bad\tname', 'als');
SELECT dwc.rec_create_model('x', 'magic');
SELECT dwc.rec_create_model('x', 'als', '{"rank": 0}');
SELECT dwc.rec_create_model('x', 'als', '{"depth": 3}');
SELECT dwc.rec_create_model('x', 'als', '[1]');
SELECT dwc.rec_interact('u1', 'i1', 'NaN');
SELECT dwc.rec_interact('u1', '', 3);
SELECT dwc.rec_interact('u1', 'i1', 3, context => '[]');
SELECT * FROM dwc.recommend('u1', 'nope');
SELECT * FROM dwc.recommend('u1', 'planted', 0);
SELECT * FROM dwc.recommend('u1', 'planted', 3, true, '"red"');
SELECT * FROM dwc.similar_items('i99', 'planted');
SELECT * FROM dwc.similar_items('i1', 'popular');
SELECT dwc.rec_train('planted', '{"test_size": 1}');
SELECT dwc.rec_train('planted', '{"holdout": 0.1}');
SELECT dwc.rec_train('planted', '{"test_from": "2026-01-01", "test_size": 0.1}');
SELECT dwc.rec_train('planted', '{"test_from": 2026}');
SELECT dwc.rec_train('planted', '{"split": "by_item"}');
SELECT dwc.rec_train('planted', '{"split": "per_user", "test_from": "2026-01-01"}');
SELECT dwc.rec_train('planted', '{"test_from": "not a time"}');
SELECT dwc.rec_create_model('empty', 'als') ->> 'name';
SELECT * FROM dwc.recommend('u1', 'empty');
SELECT dwc.rec_delete_model('empty');
SELECT dwc.rec_train('empty');
SELECT dwc.recommend(NULL, 'planted');
-- a deleted model's versions take their factors and neighbour lists with them
SELECT count(*) > 0 AS factors, (SELECT count(*) > 0 FROM dwc.rec_neighbors n JOIN dwc.rec_models m ON m.id = n.model_id
                                  WHERE m.owner = 'dwc_rec_clicks'::regrole) AS neighbours
  FROM dwc.rec_factors f JOIN dwc.rec_models m ON m.id = f.model_id WHERE m.owner = 'dwc_rec_clicks'::regrole;
SELECT dwc.rec_delete_model(name) FROM dwc.rec_models WHERE owner = 'dwc_rec_clicks'::regrole;
SELECT count(*) AS orphans
  FROM (SELECT model_id, version FROM dwc.rec_factors UNION ALL SELECT model_id, version FROM dwc.rec_neighbors) f
 WHERE NOT EXISTS (SELECT FROM dwc.rec_versions v WHERE v.model_id = f.model_id AND v.version = f.version);
DELETE FROM dwc.rec_interactions WHERE owner = 'dwc_rec_clicks'::regrole;
DROP ROLE dwc_rec_clicks;
DROP ROLE dwc_rec_books;
-- ids longer than what the interning table keeps in its slots (12 bytes) and alike in those
-- bytes stay apart: three items bought by 1, 2 and 3 users rank in that order, each with its
-- own count, and an ALS model predicts each pair it was trained on
CREATE ROLE dwc_rec_long IN ROLE dwc_user;
SET ROLE dwc_rec_long;
SELECT count(dwc.rec_interact('a-long-user-name-' || u, 'a-long-item-name-' || i, i + u / 10.0))
  FROM generate_series(1, 3) i, generate_series(1, i) u;
SELECT dwc.rec_create_model('long_popular', 'popularity', '{"half_life_days": 36500}') ->> 'name' AS model;
SELECT dwc.rec_train('long_popular', '{"test_size": 0}') ->> 'items' AS items;
SELECT item_id, round(score::numeric, 2) AS score FROM dwc.recommend('someone-else-entirely', 'long_popular', 3);
SELECT dwc.rec_create_model('long_als', 'als', '{"rank": 2, "lambda": 0.0001, "iterations": 30}') ->> 'name' AS model;
SELECT dwc.rec_train('long_als', '{"test_size": 0}') ->> 'users' AS users;
SELECT p.user_id, p.item_id, p.predicted IS NOT NULL AS predicted
  FROM dwc.rec_predict('long_als', ARRAY['a-long-user-name-1', 'a-long-user-name-3', 'a-long-user-name-4'],
                       ARRAY['a-long-item-name-2', 'a-long-item-name-3', 'a-long-item-name-1']) p;
RESET ROLE;
DELETE FROM dwc.rec_interactions WHERE owner = 'dwc_rec_long'::regrole;
SELECT dwc.rec_delete_model(name) FROM dwc.rec_models WHERE owner = 'dwc_rec_long'::regrole;
DROP ROLE dwc_rec_long;
