#!/usr/bin/env node
// The `warden` command (`npm run warden -- …`, `npx warden …`). Runs bin/warden.ts as one
// JavaScript bundle cached under node_modules/.cache/warden-cli/<stamp> (bin/bundle.mjs): transpiling on
// every run (tsx) cost 2 s a command on an idle box; the bundle starts in ~0.2 s.
import { runBundled } from './bundle.mjs';

// What the bundle is built from: the CLI, the client, the server modules the admin commands use.
await runBundled({ name: 'warden-cli', file: 'warden', sources: ['bin', 'client', 'server'], what: 'the CLI', cacheEnv: 'WARDEN_CLI_CACHE' });
