import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * bin/warden.mjs runs the CLI as an esbuild bundle cached per stamp of its sources. Commands
 * started together (a script's `&`, a test's Promise.all) must all run, whoever builds: a bundle
 * is never removed or replaced under a command that is loading it.
 */
const REPO = path.resolve(__dirname, '..');
// Under the repo's node_modules, so the bundle resolves its packages as the real one does.
fs.mkdirSync(path.join(REPO, 'node_modules/.cache'), { recursive: true });
const cache = fs.mkdtempSync(path.join(REPO, 'node_modules/.cache/warden-cli-test-'));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/warden.mjs', ...args], { cwd: REPO, env: { ...process.env, WARDEN_CLI_CACHE: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
const bundles = () => fs.readdirSync(cache).filter((d) => !d.endsWith('.tmp'));

describe('the CLI bundle (bin/warden.mjs)', () => {
  it('six commands started at once on an empty cache all run; one bundle stays, no temporary build is left', async () => {
    const runs = await Promise.all(Array.from({ length: 6 }, () => run(['jobs', '--help'])));
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: warden jobs <command>/);
    }
    expect(bundles()).toHaveLength(1);
    expect(fs.readdirSync(cache)).toEqual(bundles());
  }, 180_000);

  it('starting loads no HTTP client: the entry and its static imports leave openapi-fetch and the server modules to the commands that use them', () => {
    const dir = path.join(cache, bundles()[0]!);
    const seen = new Set<string>();
    const external = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      // Static imports only (`import … from "x"`, `import "x"`); `import("x")` is loaded on use.
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^;(]*?from\s*"([^"]+)"|^\s*import\s*"([^"]+)"/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('./')) walk(spec.slice(2));
        else external.add(spec);
      }
    };
    walk('warden.mjs');
    expect(seen.size).toBeGreaterThanOrEqual(1);
    expect([...external].filter((x) => !x.startsWith('node:'))).toEqual([]);
    // …and the client is there, loaded by connect() on first use.
    expect(fs.readdirSync(dir).some((f) => /^client-.*\.mjs$/.test(f))).toBe(true);
  });

  it('a changed source gets a new bundle while the old one stays for commands still running it; the same sources again reuse theirs', async () => {
    const before = bundles();
    const file = path.join(REPO, 'bin/completion.ts');
    const st = fs.statSync(file);
    try {
      fs.utimesSync(file, st.atime, new Date(st.mtimeMs + 1000));
      const runs = await Promise.all(Array.from({ length: 3 }, () => run(['completion', 'bash'])));
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      expect(bundles()).toHaveLength(before.length + 1);
      expect(bundles()).toEqual(expect.arrayContaining(before));
    } finally {
      fs.utimesSync(file, st.atime, st.mtime);
    }
    // The same sources again reuse their bundle: two runs in a row make at most the one bundle of
    // the restored sources (other test files of a full run may rewrite a source between our
    // restore and the first run, never between two runs a moment apart).
    expect((await run(['jobs', '--help'])).code).toBe(0);
    const again = bundles();
    expect((await run(['jobs', '--help'])).code).toBe(0);
    expect(bundles()).toEqual(again);
  }, 180_000);
});
