ALTER TABLE "jobs" ADD COLUMN "claim_id" uuid;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "claim_seen_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "claim_owner" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "external_signal" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "external_signal_at" timestamp with time zone;