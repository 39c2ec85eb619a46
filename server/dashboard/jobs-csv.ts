import type { DbOrTx } from '../db/client';
import { CSV_MAX_ROWS, jobTabBatches, type JobListQuery, type JobRow } from './job-lists';

/** The CSV's columns: header → value of a job row. */
const COLUMNS: [string, (r: JobRow) => unknown][] = [
  ['id', (r) => r.id],
  ['name', (r) => r.name],
  ['user', (r) => r.userName ?? r.userId],
  ['status', (r) => r.status],
  ['image', (r) => r.image],
  ['attempt', (r) => r.attempt],
  ['queued_at', (r) => r.queuedAt],
  ['started_at', (r) => r.startedAt],
  ['finished_at', (r) => r.finishedAt],
  ['deadline_at', (r) => r.deadlineAt],
  ['timeout_seconds', (r) => r.timeoutSeconds],
  ['timeout_source', (r) => r.timeoutSource],
  ['extended_seconds', (r) => r.extendedSeconds],
  ['exit_code', (r) => r.exitCode],
  ['reason', (r) => r.reason],
  ['wait_code', (r) => r.waitCode],
  ['node', (r) => r.node],
  ['class', (r) => r.class],
  ['labels', (r) => Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(';')],
];

/**
 * One CSV field (RFC 4180: quoted when it holds a comma, quote or line break). Text a spreadsheet
 * would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe: job names and
 * reasons come from users.
 */
export function csvField(v: unknown): string {
  if (v == null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (fields: unknown[]): string => `${fields.map(csvField).join(',')}\r\n`;

/**
 * The current filter of a Jobs tab as CSV, streamed a batch at a time (bounded memory), at most
 * CSV_MAX_ROWS rows; a cut export ends with a line saying so.
 */
export function jobsCsvStream(db: DbOrTx, q: JobListQuery, max = CSV_MAX_ROWS): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let it: AsyncGenerator<JobRow[]> | null = null;
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!it) {
        it = jobTabBatches(db, q, max + 1);
        controller.enqueue(enc.encode(csvLine(COLUMNS.map(([h]) => h))));
        return;
      }
      const next = await it.next();
      if (next.done) {
        controller.close();
        return;
      }
      let out = '';
      for (const r of next.value) {
        if (n === max) {
          out += csvLine([`# cut at ${max} rows: narrow the filters to export the rest`]);
          n++;
          break;
        }
        if (n > max) break;
        out += csvLine(COLUMNS.map(([, f]) => f(r)));
        n++;
      }
      controller.enqueue(enc.encode(out));
    },
    async cancel() {
      await it?.return(undefined);
    },
  });
}
