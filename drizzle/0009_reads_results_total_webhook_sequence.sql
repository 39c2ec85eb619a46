DROP INDEX "webhook_deliveries_pending_job_idx";--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_results_total_mb" integer DEFAULT 500 NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "sequence" integer;--> statement-breakpoint
CREATE INDEX "webhook_events_job_seq_idx" ON "webhook_events" USING btree ("job_id","sequence");