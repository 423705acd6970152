-- Bytes per row of the tables that grow with a community, for docs/scaling.md.
-- Run on a scratch database that `fitboard db upgrade` has just created (never on a real
-- one: it inserts 10,000 athletes and 500,000 workouts). Takes about two minutes.
\set ON_ERROR_STOP on
INSERT INTO users (id, username, username_key, display_name, password_hash, timezone,
                   weight_kg, birth_year, sex, show_on_leaderboards, is_admin,
                   projection_version, created_at, token_generation)
SELECT md5('u' || g)::uuid, 'athlete' || g, 'athlete' || g, 'Athlete ' || g,
       '$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ',
       'Europe/Berlin', 70.5, 1985, 'female', true, false, 10, now(), 0
FROM generate_series(1, 10000) g;

-- A typical processed workout: distance and heart rate, no notes, no file.
INSERT INTO workouts (id, user_id, activity, started_at, duration_s, submitted_at,
                      distance_m, elevation_gain_m, avg_heart_rate, source, status,
                      board_day, calories, calories_method, met, body_mass_kg, points,
                      processed_at, local_day)
SELECT gen_random_uuid(), md5('u' || (1 + g % 10000))::uuid,
       (ARRAY['running', 'cycling', 'walking', 'swimming', 'strength'])[1 + g % 5],
       now() - (g % 365) * interval '1 day', 1800 + g % 3600, now(), 5000 + g % 20000, 50,
       140 + g % 30, 'api', 'counted', (now() - (g % 365) * interval '1 day')::date,
       400.5 + g % 300, 'keytel', 9.8, 70.5, 40 + g % 60, now(),
       (now() - (g % 365) * interval '1 day')::date
FROM generate_series(1, 500000) g;

INSERT INTO daily_rollups (user_id, day, activity, calories, distance_m, duration_s,
                           workouts, points, first_ended_at, last_ended_at,
                           distance_last_ended_at, calories_reached_at, points_reached_at)
SELECT user_id, board_day, activity, sum(calories), sum(distance_m), sum(duration_s),
       count(*), sum(points), min(started_at), max(started_at), max(started_at),
       max(started_at), max(started_at)
FROM workouts GROUP BY user_id, board_day, activity;

VACUUM ANALYZE users;
VACUUM ANALYZE workouts;
VACUUM ANALYZE daily_rollups;

SELECT t AS "table", rows, total / rows AS "bytes per row", heap / rows AS "table",
       indexes / rows AS "indexes"
FROM (VALUES
    ('workouts', (SELECT count(*) FROM workouts), pg_total_relation_size('workouts'),
     pg_relation_size('workouts'), pg_indexes_size('workouts')),
    ('daily_rollups', (SELECT count(*) FROM daily_rollups),
     pg_total_relation_size('daily_rollups'), pg_relation_size('daily_rollups'),
     pg_indexes_size('daily_rollups')),
    ('users', (SELECT count(*) FROM users), pg_total_relation_size('users'),
     pg_relation_size('users'), pg_indexes_size('users'))
) AS sizes(t, rows, total, heap, indexes);
