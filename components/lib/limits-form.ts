import type { z } from 'zod';

/** One field of a limits form (plans, classes): a number unless `text`. */
export interface LimitsField<K extends string = string> {
  key: K;
  label: string;
  /** Free text rather than a number. */
  text?: boolean;
  /** Empty means null (falls through to the next level) rather than "required". */
  nullable?: boolean;
}

export interface FormParse<T> {
  fields: T;
  error?: { field: string; message: string };
}

/** A record's values as the form's strings ('' for null). */
export function toFormValues<K extends string>(defs: readonly LimitsField<K>[], record: Partial<Record<K, unknown>> | null): Record<string, string> {
  return Object.fromEntries(defs.map((f) => [f.key, record?.[f.key] == null ? '' : String(record[f.key])]));
}

/**
 * Form strings → the request body: trimmed, numbers parsed, empty → null where the field allows
 * it, then checked with the API's own zod schema, so the form says what the API would.
 */
export function fromFormValues<K extends string>(defs: readonly LimitsField<K>[], v: Record<string, string>, schema: z.ZodType): FormParse<Record<string, number | string | null>> {
  const fields: Record<string, number | string | null> = {};
  for (const f of defs) {
    const raw = (v[f.key] ?? '').trim();
    if (raw === '') {
      if (!f.nullable) return { fields, error: { field: f.key, message: `${f.label} is required` } };
      fields[f.key] = null;
    } else if (f.text) fields[f.key] = raw;
    else {
      const n = Number(raw);
      if (!Number.isFinite(n)) return { fields, error: { field: f.key, message: `${f.label} must be a number` } };
      fields[f.key] = n;
    }
  }
  const p = schema.safeParse(fields);
  if (!p.success) {
    const i = p.error.issues[0]!;
    return { fields, error: { field: i.path.map(String).join('.'), message: i.message } };
  }
  return { fields };
}
