import { Transform, type TransformCallback } from 'node:stream';
import type { LogLine } from '../runtime/types';

/**
 * Docker's multiplexed log stream (`logs?timestamps=1`, non-TTY) → one LogLine per line, in
 * arrival order: each frame says stdout (1) or stderr (2), each entry starts with the engine's
 * RFC 3339 timestamp. Bounded: the transform holds at most one frame header and LOG_LINE_MAX_BYTES
 * of one line, whatever the engine sends (a longer line is cut and says so); object-mode
 * backpressure stops reading the engine while the reader is slow. `plain`: newline-separated
 * text with timestamps and no frames (Kubernetes' Pod log), every line's stream null.
 */

/** The longest line kept; Docker's json-file driver already splits lines at 16 KiB. */
export const LOG_LINE_MAX_BYTES = 16 * 1024;
const TS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) /;

/**
 * Splits "2026-…Z text" into its timestamp (ms precision, ISO), the same time to the nanosecond
 * (nanoseconds since the epoch, decimal: the engines write RFC 3339 with nanoseconds) and text.
 */
export function splitTimestamp(line: string): { at: string | null; ns?: string; text: string } {
  const m = TS.exec(line);
  if (!m) return { at: null, text: line };
  const ms = Date.parse(`${m[1]!}${m[3]!}`);
  if (Number.isNaN(ms)) return { at: null, text: line };
  const frac = (m[2] ?? '').slice(0, 9).padEnd(9, '0');
  const ns = BigInt(ms) * 1_000_000n + BigInt(frac);
  return { at: new Date(ms + Number(frac.slice(0, 3))).toISOString(), ns: ns.toString(), text: line.slice(m[0].length) };
}

export interface LineMeter {
  /** The most payload bytes held at once. */
  peakHeldBytes: number;
}

export class DockerLogLines extends Transform {
  private header = Buffer.alloc(0);
  /** Payload bytes of the current frame still to come, and its stream. */
  private remaining = 0;
  private stream: LogLine['stream'] = 'stdout';
  /** The current line's bytes so far (capped), per stream: a frame may end mid-line. */
  private partial: Record<'stdout' | 'stderr', { parts: Buffer[]; bytes: number; cut: boolean }> = {
    stdout: { parts: [], bytes: 0, cut: false },
    stderr: { parts: [], bytes: 0, cut: false },
  };
  /** No frame header where one should be: a TTY container's raw output, passed as stdout. */
  private raw = false;

  /** Lines without stream: text lines (Kubernetes' Pod log), with `stream` null on every line. */
  private readonly plain: boolean;

  constructor(opts: { plain?: boolean; meter?: LineMeter; omit?: (l: LogLine) => boolean } = {}) {
    super({ readableObjectMode: true, readableHighWaterMark: 64 });
    this.plain = !!opts.plain;
    this.raw = this.plain;
    this.meter = opts.meter;
    this.omit = opts.omit;
  }
  private readonly meter?: LineMeter;
  /** Lines that are not the program's (the kubelet's own notes), left out. */
  private readonly omit?: (l: LogLine) => boolean;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.raw) {
        this.payload(chunk.subarray(off));
        break;
      }
      if (this.remaining === 0) {
        const need = 8 - this.header.length;
        this.header = Buffer.concat([this.header, chunk.subarray(off, off + need)]);
        off += Math.min(need, chunk.length - off);
        if (this.header.length < 8) break;
        const h = this.header;
        this.header = Buffer.alloc(0);
        if (h[0]! > 2 || h[1] !== 0 || h[2] !== 0 || h[3] !== 0) {
          this.raw = true;
          this.stream = 'stdout';
          this.payload(h);
          continue;
        }
        this.stream = h[0] === 2 ? 'stderr' : 'stdout';
        this.remaining = h.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - off);
      this.payload(chunk.subarray(off, off + take));
      off += take;
      this.remaining -= take;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    for (const s of ['stdout', 'stderr'] as const) if (this.partial[s].bytes > 0 || this.partial[s].cut) this.emitLine(s);
    cb();
  }

  /** Payload bytes of the current stream: whole lines go out, the rest waits (capped). */
  private payload(buf: Buffer): void {
    const s = this.stream === 'stderr' ? 'stderr' : 'stdout';
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      this.hold(s, buf.subarray(start, end));
      if (nl === -1) break;
      this.emitLine(s);
      start = nl + 1;
    }
  }

  private hold(s: 'stdout' | 'stderr', part: Buffer): void {
    const p = this.partial[s];
    const room = LOG_LINE_MAX_BYTES - p.bytes;
    if (part.length > room) p.cut = true;
    const kept = part.subarray(0, Math.max(0, room));
    if (kept.length) {
      // Copied: the chunk it came from can then be released.
      p.parts.push(Buffer.from(kept));
      p.bytes += kept.length;
    }
    if (this.meter) this.meter.peakHeldBytes = Math.max(this.meter.peakHeldBytes, this.partial.stdout.bytes + this.partial.stderr.bytes);
  }

  private emitLine(s: 'stdout' | 'stderr'): void {
    const p = this.partial[s];
    let line = Buffer.concat(p.parts, p.bytes).toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const { at, ns, text } = splitTimestamp(line);
    const cut = p.cut;
    this.partial[s] = { parts: [], bytes: 0, cut: false };
    const out: LogLine = { at, stream: this.plain ? null : s, text: cut ? `${text} … [line cut at ${LOG_LINE_MAX_BYTES / 1024} KiB]` : text };
    if (ns !== undefined) out.ns = ns;
    if (this.omit?.(out)) return;
    this.push(out);
  }
}
