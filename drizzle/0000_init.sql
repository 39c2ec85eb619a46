CREATE TYPE "public"."job_status" AS ENUM('queued', 'starting', 'running', 'terminating', 'succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled');--> statement-breakpoint
CREATE TYPE "public"."operator_role" AS ENUM('viewer', 'operator', 'admin');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"key_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"user_id" uuid,
	"operator_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" text,
	"reason" text,
	"success" boolean DEFAULT true NOT NULL,
	"error" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"name" text,
	"image" text NOT NULL,
	"command" jsonb,
	"env" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"parent_id" uuid,
	"status" "job_status" DEFAULT 'queued' NOT NULL,
	"attempt" integer DEFAULT 1 NOT NULL,
	"max_retries" integer NOT NULL,
	"requested_timeout_s" integer,
	"timeout_s" integer NOT NULL,
	"timeout_source" text NOT NULL,
	"timeout_suspended" boolean DEFAULT false NOT NULL,
	"deadline_at" timestamp with time zone,
	"grace_period_s" integer NOT NULL,
	"ttl_s" integer,
	"ttl_expires_at" timestamp with time zone,
	"extended_s" integer DEFAULT 0 NOT NULL,
	"queued_at" timestamp with time zone NOT NULL,
	"claimed_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"warned_at" timestamp with time zone,
	"terminate_requested_at" timestamp with time zone,
	"terminate_kind" text,
	"terminate_reason" text,
	"terminate_actor" text,
	"terminate_force" boolean DEFAULT false NOT NULL,
	"sigterm_at" timestamp with time zone,
	"sigkill_at" timestamp with time zone,
	"cleaned_at" timestamp with time zone,
	"container_id" text,
	"node" text,
	"exit_code" integer,
	"reason" text,
	"wait_reason" text,
	"log_tail" text,
	"side_effect_failures" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "login_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"success" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"id" text PRIMARY KEY NOT NULL,
	"heartbeat_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"docker_ok" boolean DEFAULT false NOT NULL,
	"docker_error" text,
	"version" text
);
--> statement-breakpoint
CREATE TABLE "operators" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"email" text NOT NULL,
	"password_hash" text,
	"role" "operator_role" DEFAULT 'viewer' NOT NULL,
	"disabled" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "operators_email_unique" UNIQUE("email")
);
--> statement-breakpoint
CREATE TABLE "plans" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"default_timeout_s" integer DEFAULT 300 NOT NULL,
	"max_timeout_s" integer DEFAULT 3600 NOT NULL,
	"max_concurrent_jobs" integer DEFAULT 2 NOT NULL,
	"max_queued_jobs" integer DEFAULT 100 NOT NULL,
	"grace_period_s" integer DEFAULT 30 NOT NULL,
	"warn_before_s" integer DEFAULT 60 NOT NULL,
	"ttl_succeeded_s" integer DEFAULT 3600 NOT NULL,
	"ttl_failed_s" integer DEFAULT 86400 NOT NULL,
	"ttl_timed_out_s" integer DEFAULT 86400 NOT NULL,
	"ttl_killed_s" integer DEFAULT 86400 NOT NULL,
	"ttl_lost_s" integer DEFAULT 86400 NOT NULL,
	"max_retries" integer DEFAULT 3 NOT NULL,
	"monthly_quota_s" bigint,
	"cpus" real,
	"memory_mb" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plans_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"operator_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" text
);
--> statement-breakpoint
CREATE TABLE "sweeper_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sweeper" text NOT NULL,
	"node" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"examined" integer DEFAULT 0 NOT NULL,
	"acted" integer DEFAULT 0 NOT NULL,
	"errors" integer DEFAULT 0 NOT NULL,
	"dry_run" boolean DEFAULT false NOT NULL,
	"error" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage" (
	"user_id" uuid NOT NULL,
	"month" text NOT NULL,
	"seconds" bigint DEFAULT 0 NOT NULL,
	"jobs" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_user_id_month_pk" PRIMARY KEY("user_id","month")
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"plan_id" integer NOT NULL,
	"default_timeout_s" integer,
	"max_timeout_s" integer,
	"max_concurrent_jobs" integer,
	"max_queued_jobs" integer,
	"monthly_quota_s" bigint,
	"last_served_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_operator_id_operators_id_fk" FOREIGN KEY ("operator_id") REFERENCES "public"."operators"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_operator_id_operators_id_fk" FOREIGN KEY ("operator_id") REFERENCES "public"."operators"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "usage" ADD CONSTRAINT "usage_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_user_idx" ON "api_keys" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "api_keys_operator_idx" ON "api_keys" USING btree ("operator_id");--> statement-breakpoint
CREATE INDEX "audit_at_idx" ON "audit_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_target_idx" ON "audit_events" USING btree ("target_type","target_id","at");--> statement-breakpoint
CREATE INDEX "audit_actor_idx" ON "audit_events" USING btree ("actor","at");--> statement-breakpoint
CREATE INDEX "audit_action_idx" ON "audit_events" USING btree ("action","at");--> statement-breakpoint
CREATE INDEX "jobs_live_deadline_idx" ON "jobs" USING btree ("deadline_at") WHERE status in ('running', 'terminating');--> statement-breakpoint
CREATE INDEX "jobs_ttl_idx" ON "jobs" USING btree ("ttl_expires_at") WHERE cleaned_at is null and ttl_expires_at is not null;--> statement-breakpoint
CREATE INDEX "jobs_queued_idx" ON "jobs" USING btree ("user_id","queued_at") WHERE status = 'queued';--> statement-breakpoint
CREATE INDEX "jobs_active_user_idx" ON "jobs" USING btree ("user_id") WHERE status in ('starting', 'running', 'terminating');--> statement-breakpoint
CREATE INDEX "jobs_status_queued_at_idx" ON "jobs" USING btree ("status","queued_at");--> statement-breakpoint
CREATE INDEX "jobs_user_queued_at_idx" ON "jobs" USING btree ("user_id","queued_at");--> statement-breakpoint
CREATE INDEX "jobs_parent_idx" ON "jobs" USING btree ("parent_id") WHERE parent_id is not null;--> statement-breakpoint
CREATE INDEX "jobs_finished_at_idx" ON "jobs" USING btree ("finished_at");--> statement-breakpoint
CREATE INDEX "jobs_container_idx" ON "jobs" USING btree ("container_id") WHERE container_id is not null;--> statement-breakpoint
CREATE INDEX "login_attempts_email_at_idx" ON "login_attempts" USING btree ("email","at");--> statement-breakpoint
CREATE INDEX "sessions_operator_idx" ON "sessions" USING btree ("operator_id");--> statement-breakpoint
CREATE INDEX "sweeper_runs_sweeper_started_idx" ON "sweeper_runs" USING btree ("sweeper","started_at");