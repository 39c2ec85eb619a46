import pino from 'pino';

/** Structured JSON logs (one line per event); LOG_LEVEL controls verbosity. */
const g = globalThis as unknown as { __wardenLog?: pino.Logger };

export const log: pino.Logger =
  g.__wardenLog ??
  (g.__wardenLog = pino(
    {
      level: process.env.LOG_LEVEL ?? (process.env.VITEST ? 'silent' : process.env.WARDEN_CLI ? 'warn' : 'info'),
      base: { svc: 'warden' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // The CLI's stdout carries only its JSON answer; its logs go to stderr.
    pino.destination(process.env.WARDEN_CLI ? 2 : 1),
  ));
