-- Live dashboard (hand-written: drizzle-kit does not generate triggers). Every change the
-- dashboard shows is announced on the `warden_live` channel, whichever code path made it; the web
-- process LISTENs once and fans out over Server-Sent Events (server/dashboard/live-hub.ts).
-- Payloads: `job:<id>:<status>` per job transition (row level, only when the status changes, so a
-- conditional UPDATE that matched nothing or a cleaned_at write says nothing), `jobs` once per
-- INSERT statement (a bulk insert is one notification, not a million), `node` and `sweeper` once
-- per statement. NOTIFY is delivered on commit and identical payloads in one transaction coalesce.
CREATE OR REPLACE FUNCTION warden_live_job_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('warden_live', 'job:' || NEW.id::text || ':' || NEW.status::text);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION warden_live_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('warden_live', TG_ARGV[0]);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER warden_live_job_status AFTER UPDATE OF status ON jobs
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION warden_live_job_row();
--> statement-breakpoint
CREATE TRIGGER warden_live_job_insert AFTER INSERT ON jobs
  FOR EACH STATEMENT EXECUTE FUNCTION warden_live_statement('jobs');
--> statement-breakpoint
CREATE TRIGGER warden_live_nodes AFTER INSERT OR UPDATE ON nodes
  FOR EACH STATEMENT EXECUTE FUNCTION warden_live_statement('node');
--> statement-breakpoint
CREATE TRIGGER warden_live_sweeper_runs AFTER INSERT OR UPDATE ON sweeper_runs
  FOR EACH STATEMENT EXECUTE FUNCTION warden_live_statement('sweeper');
