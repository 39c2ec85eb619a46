CREATE TABLE "job_classes" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"default_timeout_s" integer NOT NULL,
	"max_timeout_s" integer,
	"grace_period_s" integer,
	"warn_before_s" integer,
	"idle_timeout_s" integer,
	"ttl_succeeded_s" integer,
	"ttl_failed_s" integer,
	"ttl_timed_out_s" integer,
	"ttl_killed_s" integer,
	"ttl_lost_s" integer,
	"results_path" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_classes_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "job_results" (
	"job_id" uuid PRIMARY KEY NOT NULL,
	"attempt" integer NOT NULL,
	"path" text NOT NULL,
	"tar" "bytea" NOT NULL,
	"bytes" integer NOT NULL,
	"files" integer NOT NULL,
	"truncated" boolean NOT NULL,
	"saved_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "class_name" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "idle_timeout_s" integer;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "last_output_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "idle_deadline_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "results_path" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "results_bytes" integer;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "results_truncated" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "results_note" text;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "idle_timeout_s" integer;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "results_path" text;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_results_mb" integer DEFAULT 50 NOT NULL;--> statement-breakpoint
ALTER TABLE "job_results" ADD CONSTRAINT "job_results_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "jobs_idle_deadline_idx" ON "jobs" USING btree ("idle_deadline_at") WHERE status = 'running' and idle_deadline_at is not null;