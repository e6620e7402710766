-- realtime: named rooms and their members, broadcasts (checked against dwc's own event kinds),
-- who may join what and which events each connection sees, API-key sign-in refusals.
-- (The WebSocket gateway itself, with a client and a browser: test/integration/test_realtime.py.)
SET client_min_messages = warning;

SELECT dwc.create_room('rg_lobby', '{u1, u2}');
SELECT dwc.room_members('rg_lobby', add => '{u3}', remove => '{u1}') AS members;
SELECT dwc.broadcast('rg_lobby', 'chat.message', '{"text": "hi"}') > 0 AS broadcast;
SELECT kind, subject, payload FROM dwc.events WHERE subject = 'room:rg_lobby' ORDER BY id;

-- dwc's own kinds (dwc.event_sources) are not for rooms, nor are malformed ones
SELECT dwc.broadcast('rg_lobby', 'job.dead');
SELECT dwc.broadcast('rg_lobby', 'notification.in_app');
SELECT dwc.broadcast('rg_lobby', 'Chat');
SELECT dwc.broadcast('rg_nowhere', 'chat.message');
SELECT dwc.create_room('rg_lobby');

-- which events a connection sees: an administrator in "*" everything, a user their own events
-- in "user", and events of the subjects they joined
WITH e(kind, subject, owner_user) AS (VALUES ('a.x', 'room:r1', 'u9'), ('a.y', 'chain:1', 'u1'),
                                             ('a.z', 'chain:2', 'u2'), ('a.w', NULL, 'u1'))
SELECT e.kind,
       dwc._rt_visible('u1', false, '{user}', (0, now(), e.kind, e.subject, '{}', 10, e.owner_user)::dwc.events) AS u1_user_room,
       dwc._rt_visible('u1', false, '{room:r1, chain:2}', (0, now(), e.kind, e.subject, '{}', 10, e.owner_user)::dwc.events) AS u1_joined,
       dwc._rt_visible('u7', true, '{*}', (0, now(), e.kind, e.subject, '{}', 10, e.owner_user)::dwc.events) AS admin_star
  FROM e ORDER BY e.kind;

-- a credential that is not one
SELECT dwc._rt_authenticate('{"api_key": "dwc_nope_nope"}');
SELECT dwc._rt_authenticate('{"password": "x"}');

SELECT dwc.drop_room('rg_lobby') AS dropped, dwc.drop_room('rg_lobby') AS again;
