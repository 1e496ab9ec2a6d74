-- append_events() keeps one generic plan per statement (docs/performance.md, "Notifications
-- without a flush each; append_events() with generic plans").
--
-- PL/pgSQL caches each statement of a function per session, but by default plans it again
-- for the parameters of each of its first five calls and whenever the custom plan looks
-- cheaper than the generic one; the statements of append_events() read JSON through set-
-- returning functions whose row counts the planner guesses, so it kept planning anew. Each
-- look-up in it is by an index whatever the parameters (a stream's last version through
-- events_stream_version_key, a command through commands_pkey), which a generic plan keeps;
-- append_run() has done the same since sql/029.
--
-- Measured with pgbench, one event per call to a random stream, alternated three times:
-- 8 clients 3,547-3,781 -> 4,680-4,905 calls/s; 1 client unchanged within noise.
-- append_guarded() calls append_events() and gains with it.

ALTER FUNCTION public.append_events(text, text, jsonb, jsonb) SET plan_cache_mode = force_generic_plan;
