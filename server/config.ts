import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting Warden reads, validated once at start-up for web, worker and CLI alike.
 * One name and one default per setting; the README's configuration table mirrors this.
 */
const flag = (def: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const s = v.trim().toLowerCase();
      if (['1', 'on', 'true', 'yes'].includes(s)) return true;
      if (['0', 'off', 'false', 'no'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: `expected on/off (got "${v}")` });
      return z.NEVER;
    });

const seconds = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number of seconds from ${min} to ${max} (got "${v}")` });
        return z.NEVER;
      }
      return n;
    });

export const envSchema = z.object({
  PORT: seconds(3000, 1, 65535),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : undefined))
    .refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), 'expected a postgres:// URL'),
  WARDEN_DATA_DIR: z.string().optional().transform((v) => path.resolve(v && v.trim() ? v : './.data')),
  DOCKER_HOST: z.string().optional().transform((v) => (v && v.trim() ? v.trim() : undefined)),
  WARDEN_WORKER: flag(true),
  WARDEN_NODE_ID: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() ? v.trim() : os.hostname()))
    .refine((v) => /^[A-Za-z0-9_.:-]{1,63}$/.test(v), 'expected 1-63 characters of letters, digits, _ . : -'),
  WARDEN_TIMEOUT_SWEEP_S: seconds(1, 1, 3600),
  WARDEN_TTL_SWEEP_S: seconds(30, 1, 86400),
  WARDEN_ORPHAN_SWEEP_S: seconds(30, 1, 86400),
  WARDEN_ORPHAN_GRACE_S: seconds(300, 0, 7 * 86400),
  WARDEN_HISTORY_DAYS: seconds(30, 1, 3650),
  WARDEN_DRY_RUN: flag(false),
  /** Webhook URLs may point at loopback, link-local and private addresses (off: refused, so webhooks cannot probe the host's network). */
  WARDEN_WEBHOOK_ALLOW_PRIVATE: flag(false),
  WARDEN_ADMIN_EMAIL: z.string().optional().transform((v) => (v && v.trim() ? v.trim().toLowerCase() : undefined)),
  WARDEN_ADMIN_PASSWORD: z.string().optional().transform((v) => (v ? v : undefined)),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional().default('info'),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {}

/** Parses an environment; throws a ConfigError listing every bad setting by name. */
export function parseConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid Warden settings:\n${lines.join('\n')}`);
  }
  if (r.data.WARDEN_ADMIN_PASSWORD !== undefined && r.data.WARDEN_ADMIN_PASSWORD.length < 8) {
    throw new ConfigError('Invalid Warden settings:\n  WARDEN_ADMIN_PASSWORD: must be at least 8 characters');
  }
  return r.data;
}

const g = globalThis as unknown as { __wardenConfig?: Config };

/** The process-wide settings, parsed from process.env on first use. */
export function config(): Config {
  if (!g.__wardenConfig) g.__wardenConfig = parseConfig(process.env);
  return g.__wardenConfig;
}
