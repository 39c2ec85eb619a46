import fs from 'node:fs';
import path from 'node:path';
import { alive, readPostmaster } from '../../server/db/embedded';

/**
 * The repo's own data directory (`./.data`, WARDEN_DATA_DIR's default). Tests give every Warden
 * they start a data directory of its own; one that falls back to this default starts an embedded
 * PostgreSQL here that nobody stops once its owner exits (seen after suite runs). The global setup
 * watches for it and names its owner (test/setup/global.ts); each test file checks that it did not
 * start one itself (test/setup/per-file.ts).
 */
export const REPO_DATA = path.resolve(__dirname, '../../.data');
const OWNER = path.join(REPO_DATA, 'pg-owner.json');

export interface RepoPgOwner {
  pid: number;
  port: number;
  startedAt: string;
}

/** The owner file of an embedded PostgreSQL under ./.data, if there is one. */
export function repoPgOwner(): RepoPgOwner | null {
  try {
    return JSON.parse(fs.readFileSync(OWNER, 'utf8')) as RepoPgOwner;
  } catch {
    return null;
  }
}

/** The postmaster's pid of the PostgreSQL under ./.data, if it runs. */
export function repoPostmaster(): number | null {
  const pm = readPostmaster(path.join(REPO_DATA, 'pg'));
  return pm && alive(pm.pid) ? pm.pid : null;
}

/** What a live process is: its command line and working directory (empty when it is gone). */
export function describeProcess(pid: number): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return `${cmd} (in ${fs.readlinkSync(`/proc/${pid}/cwd`)})`;
  } catch {
    return '';
  }
}
