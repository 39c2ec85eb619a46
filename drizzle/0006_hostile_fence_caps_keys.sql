ALTER TABLE "plans" ALTER COLUMN "cpus" SET DEFAULT 1;--> statement-breakpoint
-- Hand-added backfill (keep when regenerating): plans saved without caps get the documented defaults.
UPDATE "plans" SET "cpus" = 1 WHERE "cpus" IS NULL;--> statement-breakpoint
UPDATE "plans" SET "memory_mb" = 512 WHERE "memory_mb" IS NULL;--> statement-breakpoint
ALTER TABLE "plans" ALTER COLUMN "cpus" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ALTER COLUMN "memory_mb" SET DEFAULT 512;--> statement-breakpoint
ALTER TABLE "plans" ALTER COLUMN "memory_mb" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "pids_limit" integer DEFAULT 512 NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "network" text DEFAULT 'warden' NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "runtime" text;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_env_vars" integer DEFAULT 64 NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_env_bytes" integer DEFAULT 32768 NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_command_args" integer DEFAULT 256 NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_command_bytes" integer DEFAULT 65536 NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_labels" integer DEFAULT 32 NOT NULL;--> statement-breakpoint
ALTER TABLE "plans" ADD COLUMN "max_label_bytes" integer DEFAULT 8192 NOT NULL;