-- Live streams per user (hand-written: drizzle-kit does not generate triggers). GET /api/v1/events
-- lets a user key follow its own jobs, so every job announcement on `warden_live` now names the
-- job's owner (server/dashboard/live-hub.ts strips it again for the streams):
-- `job:<id>:<status>:<user id>` per transition, and per INSERT statement `jobs:<user id>` once per
-- distinct owner of the inserted rows (a bulk insert for one user is still one notification).
CREATE OR REPLACE FUNCTION warden_live_job_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('warden_live', 'job:' || NEW.id::text || ':' || NEW.status::text || ':' || NEW.user_id::text);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION warden_live_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('warden_live', 'jobs:' || o.user_id::text) FROM (SELECT DISTINCT user_id FROM inserted_jobs) o;
  RETURN NULL;
END $$;
--> statement-breakpoint
DROP TRIGGER IF EXISTS warden_live_job_insert ON jobs;
--> statement-breakpoint
CREATE TRIGGER warden_live_job_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS inserted_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION warden_live_jobs_inserted();
