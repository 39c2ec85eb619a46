ALTER TABLE "job_classes" ADD COLUMN "node_selector" jsonb;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "cpus" real;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "memory_mb" integer;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "name" text;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "cpus" real;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "memory_mb" integer;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "max_jobs" integer;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "labels" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "state" text DEFAULT 'active' NOT NULL;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "drain_reason" text;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "drained_by" text;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "drain_started_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "drain_deadline_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "jobs_node_active_idx" ON "jobs" USING btree ("node") WHERE status in ('starting', 'running', 'terminating');