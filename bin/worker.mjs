#!/usr/bin/env node
// `npm run worker`: bin/worker.ts (the worker alone: dispatcher, events, sweepers, no web server)
// run as one JavaScript bundle cached under node_modules/.cache/warden-worker, rebuilt when a
// source is newer (bin/bundle.mjs). A bundle holds ~90 MB less than the same code under tsx.
import { runBundled } from './bundle.mjs';

await runBundled({ name: 'warden-worker', file: 'worker', sources: ['bin', 'server'], what: 'the worker' });
