-- Hand-written (drizzle-kit cannot express column storage): the results tar is read in chunks
-- with substring() (server/domain/results.ts resultsBody). Uncompressed out-of-line storage lets
-- each substring fetch only its own TOAST chunks; compressed, every chunk would decompress the
-- value from its start. Applies to values written from now on.
ALTER TABLE "job_results" ALTER COLUMN "tar" SET STORAGE EXTERNAL;
