/**
 * Durations and times for people: "4m 05s", "in 2m", "3h ago". formatAbsolute is UTC (the same
 * text on server and browser); formatInZone shows a time in a named zone (the browser's, see
 * useTimeZone in components/ui/time.tsx, which renders UTC until hydrated).
 */

export function formatDuration(totalSeconds: number | null | undefined): string {
  if (totalSeconds == null || !Number.isFinite(totalSeconds)) return '—';
  const neg = totalSeconds < 0;
  let s = Math.floor(Math.abs(totalSeconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  let out: string;
  if (d > 0) out = `${d}d ${h}h`;
  else if (h > 0) out = `${h}h ${String(m).padStart(2, '0')}m`;
  else if (m > 0) out = `${m}m ${String(s).padStart(2, '0')}s`;
  else out = `${s}s`;
  return neg ? `-${out}` : out;
}

/** A limit in seconds as people say it: 300 → "5m", 3600 → "1h", 90 → "1m 30s". */
export function formatLimit(seconds: number | null | undefined): string {
  if (seconds == null) return '—';
  if (seconds === 0) return '0s';
  const parts: string[] = [];
  let s = seconds;
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${u}`);
      s %= n;
    }
  }
  return parts.slice(0, 2).join(' ');
}

export function formatAbsolute(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** "2026-12-03 17:10:05 EST": a time in `timeZone` with the zone named (UTC → formatAbsolute). */
export function formatInZone(iso: string | null | undefined, timeZone: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  if (timeZone === 'UTC' || timeZone === 'Etc/UTC') return formatAbsolute(iso);
  let f = zoneFormats.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' });
    } catch {
      return formatAbsolute(iso);
    }
    zoneFormats.set(timeZone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(d)) p[part.type] = part.value;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName ?? timeZone}`;
}

export function formatRelative(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const t = new Date(iso).getTime();
  const diff = Math.round((t - now) / 1000);
  const a = Math.abs(diff);
  let v: string;
  if (a < 5) return 'just now';
  if (a < 60) v = `${a}s`;
  else if (a < 3600) v = `${Math.floor(a / 60)}m`;
  else if (a < 86400) v = `${Math.floor(a / 3600)}h`;
  else v = `${Math.floor(a / 86400)}d`;
  return diff > 0 ? `in ${v}` : `${v} ago`;
}

export function formatNumber(n: number): string {
  return n.toLocaleString('en-US');
}
