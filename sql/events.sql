-- events: dwc.emit(), validation, ownership and replay, and events from dwc's own tables.
-- (jobs' and the recommender's events are in queue.sql and recommend.sql, which number their
-- rows; NOTIFY and the sources written by workers in test/integration/test_events.py.)
\set VERBOSITY terse
SET client_min_messages = warning;
-- each statement's events, whatever earlier suites left
CREATE TEMP TABLE seen AS SELECT coalesce(max(id), 0) AS last FROM dwc.events;

SELECT dwc.emit('shop.order_paid', 'order:7', '{"amount": 12.5}') > 0 AS emitted;
SELECT dwc.emit('shop.order_shipped') > 0 AS emitted;
SELECT kind, subject, payload, owner::regrole AS owner, owner_user
  FROM dwc.events WHERE id > (SELECT last FROM seen) ORDER BY id;

-- bad input
SELECT dwc.emit('Shop.Paid');
SELECT dwc.emit('shop..paid');
SELECT dwc.emit('a.b.c.d.e.f.g');
SELECT dwc.emit(NULL);
SELECT dwc.emit('shop.x', NULL, '[1]');
SELECT dwc.emit('shop.x', repeat('s', 201));

-- an event vanishes with its transaction
BEGIN;
SELECT dwc.emit('shop.rolled_back') > 0 AS emitted;
ROLLBACK;
SELECT count(*) AS rolled_back FROM dwc.events WHERE kind = 'shop.rolled_back';

-- ownership: a user sees their own events; only administrators emit dwc's kinds
CREATE ROLE dwc_ev_alice IN ROLE dwc_user;
CREATE ROLE dwc_ev_bob IN ROLE dwc_user;
SET ROLE dwc_ev_alice;
SELECT dwc.emit('app.alice_did_this', 'thing:1') > 0 AS emitted;
SELECT dwc.emit('job.dead');
SELECT dwc.emit('chain.document_created');
-- every declared source's prefix is dwc's (notification was once missing from a list)
SELECT dwc.emit('notification.in_app');
SELECT kind, owner::regrole AS owner FROM dwc.events ORDER BY id;
SELECT kind FROM dwc.events_after(0);
RESET ROLE;
SET ROLE dwc_ev_bob;
SELECT count(*) AS bobs_view FROM dwc.events;
SELECT count(*) AS bobs_replay FROM dwc.events_after(0);
RESET ROLE;

-- the sources: each subsystem declares the first parts of its kinds, and publishes only those
SELECT prefix, subsystem FROM dwc.event_sources ORDER BY prefix;
SELECT dwc._publish('[{"kind": "nobody.x", "owner": 10}]');
SELECT dwc._publish(NULL) AS none_published;

-- replay: after an id, by kind or source, at most max_events
SELECT kind FROM dwc.events_after((SELECT last FROM seen), ARRAY['shop.*']) ORDER BY id;
SELECT kind FROM dwc.events_after((SELECT last FROM seen), ARRAY['shop.order_shipped', 'app.*']) ORDER BY id;
SELECT count(*) AS one FROM dwc.events_after((SELECT last FROM seen), max_events => 1);

-- retention: partitions are made ahead, and those wholly older than the retention dropped.
-- No worker serves this database, so the events so far are in the default partition: making
-- today's partition moves them, and what their insertion fired (NOTIFY, automations) must not
-- fire again (a statement trigger of ours counts what would)
SELECT count(*) > 0 AS in_default FROM dwc.events_default;
CREATE TEMP TABLE refired (n int8);
CREATE FUNCTION pg_temp.count_inserted() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO refired SELECT count(*) FROM added; RETURN NULL; END $$;
CREATE TRIGGER zz_count_inserted AFTER INSERT ON dwc.events REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_inserted();
SELECT dwc._partitions_maintain('dwc.events') >= 0 AS maintained;
SELECT count(*) AS refired_statements FROM refired;
SELECT count(*) AS left_in_default FROM dwc.events_default;
DROP TRIGGER zz_count_inserted ON dwc.events;
SELECT count(*) >= 3 AS partitions_ahead FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'dwc.events'::regclass AND c.relname ~ '^events_[0-9]{8}$';
SELECT count(*) AS still_there FROM dwc.events WHERE kind = 'shop.order_paid';

DELETE FROM dwc.events WHERE owner IN ('dwc_ev_alice'::regrole, 'dwc_ev_bob'::regrole);
DROP ROLE dwc_ev_alice;
DROP ROLE dwc_ev_bob;
