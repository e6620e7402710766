-- cron: parsing, next fire times (with DST), intervals, validation errors
SET timezone = 'UTC';

-- steps, lists, ranges
SELECT dwc.cron_next('*/15 * * * *', '2026-01-01 10:07:00+00', 3);
SELECT dwc.cron_next('5,35 8-9 * * *', '2026-01-01 08:05:00+00', 5);
SELECT dwc.cron_next('0 0-12/4 * * *', '2026-01-01 00:00:00+00', 4);
SELECT dwc.cron_next('10/20 * * * *', '2026-01-01 00:00:00+00', 3);
-- strictly after: a time exactly on a fire time is not returned again
SELECT dwc.cron_next('0 * * * *', '2026-01-01 10:00:00+00', 1);
SELECT dwc.cron_next('0 * * * *', '2026-01-01 09:59:59.999999+00', 1);

-- Feb 29 only in leap years
SELECT dwc.cron_next('0 0 29 2 *', '2026-03-01 00:00:00+00', 2);

-- day-of-month OR day-of-week when both are restricted (2026-06-01 is a Monday)
SELECT dwc.cron_next('0 12 1 * MON', '2026-06-02 00:00:00+00', 6);
-- ... AND when either starts with *: days 1, 11, 21, 31
SELECT dwc.cron_next('0 0 */10 * *', '2026-01-25 00:00:00+00', 5);

-- $ is the last day of the month
SELECT dwc.cron_next('30 23 $ * *', '2026-02-01 00:00:00+00', 3);
SELECT dwc.cron_next('30 23 $ * *', '2028-02-01 00:00:00+00', 1);
SELECT dwc.cron_next('0 0 15,$ * *', '2026-04-01 00:00:00+00', 3);

-- names, any case; 7 is Sunday
SELECT dwc.cron_next('0 9 * JAN,jul mon-FRI', '2026-06-30 00:00:00+00', 4);
SELECT dwc.cron_next('0 0 * * 7', '2026-06-01 00:00:00+00', 1), dwc.cron_next('0 0 * * sun', '2026-06-01 00:00:00+00', 1);

-- macros
SELECT m, dwc.cron_next(m, '2026-06-10 10:07:00+00', 1)
  FROM unnest(ARRAY['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually']) m;

-- time zones: wall-clock times in the zone
SELECT dwc.cron_next('0 9 * * *', '2026-06-01 00:00:00+00', 2, 'Europe/Madrid');
SELECT dwc.cron_next('0 9 * * *', '2026-06-01 00:00:00+00', 1, 'Asia/Kolkata');

-- DST in America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST
-- fixed time in the skipped hour fires at the change (07:00 UTC), not lost; next day as usual
SELECT dwc.cron_next('30 2 * * *', '2026-03-07 12:00:00+00', 2, 'America/New_York');
-- fixed time in the repeated hour fires once (first occurrence, 05:30 UTC)
SELECT dwc.cron_next('30 1 * * *', '2026-10-31 12:00:00+00', 2, 'America/New_York');
-- wildcard expressions follow the clock: continuous in real time across both changes
SELECT dwc.cron_next('*/30 * * * *', '2026-03-08 06:00:00+00', 4, 'America/New_York');
SELECT dwc.cron_next('*/30 * * * *', '2026-11-01 05:00:00+00', 5, 'America/New_York');
SELECT dwc.cron_next('0 * * * *', '2026-11-01 04:30:00+00', 4, 'America/New_York');
-- the same in Europe/Madrid (2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00)
SELECT dwc.cron_next('30 2 * * *', '2026-03-28 12:00:00+00', 2, 'Europe/Madrid');
SELECT dwc.cron_next('30 2 * * *', '2026-10-24 12:00:00+00', 2, 'Europe/Madrid');

-- intervals step from "from"
SELECT dwc.cron_next('30 seconds', '2026-01-01 00:00:00+00', 3);
SELECT dwc.cron_next('1 hour 30 minutes', '2026-01-01 00:00:00+00', 2);
SELECT dwc.cron_next('2 days', '2026-01-01 00:00:00+00', 2);
SELECT dwc.cron_next('  5   MINUTES ', '2026-01-01 00:00:00+00', 1);

-- bad input: the message names the field and the value
\set VERBOSITY default
SELECT dwc.cron_next('*/0 * * * *');
SELECT dwc.cron_next('60 * * * *');
SELECT dwc.cron_next('* 24 * * *');
SELECT dwc.cron_next('* * 32 * *');
SELECT dwc.cron_next('* * 0 * *');
SELECT dwc.cron_next('* * * 13 *');
SELECT dwc.cron_next('* * * * 8');
SELECT dwc.cron_next('61 seconds');
SELECT dwc.cron_next('90 minutes');
SELECT dwc.cron_next('0 seconds');
SELECT dwc.cron_next('5 fortnights');
SELECT dwc.cron_next('30 seconds 1 minute');
SELECT dwc.cron_next('$foo * * * *');
SELECT dwc.cron_next('* * $foo * *');
SELECT dwc.cron_next('');
SELECT dwc.cron_next('   ');
SELECT dwc.cron_next('* * * * * *');
SELECT dwc.cron_next('* * * *');
SELECT dwc.cron_next('@reboot');
SELECT dwc.cron_next('1-5-7 * * * *');
SELECT dwc.cron_next('5-1 * * * *');
SELECT dwc.cron_next('1,,2 * * * *');
SELECT dwc.cron_next('* * * foo *');
SELECT dwc.cron_next('*/5/5 * * * *');
SELECT dwc.cron_next('99999 * * * *');
SELECT dwc.cron_next('0 0 31 2,4 *');
SELECT dwc.cron_next('0 0 * * *', now(), 0);
SELECT dwc.cron_next('0 0 * * *', now(), 1, 'Mars/Olympus_Mons');
\set VERBOSITY terse
