-- Issue 21 point 5: the queued jobs' wait marks (quota, capacity, engine) were refreshed on every
-- wake-up of every worker (20 workers: 20 full passes over the queue a second). One row, timed by the
-- database's clock, lets one dispatcher a second do it for the whole fleet.
CREATE TABLE "wait_marks" (
	"id" smallint PRIMARY KEY NOT NULL,
	"marked_at" timestamp with time zone NOT NULL
);
