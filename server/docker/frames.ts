/**
 * Pure framing helpers for what the engine streams back (exported for unit tests): newline-
 * delimited JSON in arbitrary chunks, multiplexed stdout/stderr frames, and byte-bounded UTF-8 tails.
 */

/**
 * Splits newline-delimited text that arrives in arbitrary chunks. `pending` is the unfinished
 * tail of earlier chunks; the returned `rest` must be passed back with the next chunk.
 * Blank lines (and a trailing '\r') are dropped.
 */
export function splitJsonLines(pending: string, chunk: string): { lines: string[]; rest: string } {
  const parts = (pending + chunk).split('\n');
  const rest = parts.pop() ?? '';
  const lines: string[] = [];
  for (const p of parts) {
    const line = p.endsWith('\r') ? p.slice(0, -1) : p;
    if (line.trim() !== '') lines.push(line);
  }
  return { lines, rest };
}

/**
 * Docker multiplexes stdout/stderr of a non-TTY container into frames:
 * [stream type (0|1|2), 0, 0, 0, payload length (uint32 BE)] + payload.
 * Returns the concatenated payloads (in arrival order, so stdout and stderr interleave as the
 * engine logged them) and the number of frames. If the data does not look like frames (a TTY
 * container's raw output), the remainder is passed through unchanged instead of being mangled.
 */
export function demuxDockerFrames(buf: Buffer): { payload: Buffer; frames: number } {
  const parts: Buffer[] = [];
  let frames = 0;
  let off = 0;
  while (off < buf.length) {
    const isHeader =
      buf.length - off >= 8 &&
      buf[off]! <= 2 &&
      buf[off + 1] === 0 &&
      buf[off + 2] === 0 &&
      buf[off + 3] === 0;
    if (!isHeader) {
      parts.push(buf.subarray(off));
      break;
    }
    const len = buf.readUInt32BE(off + 4);
    const start = off + 8;
    // A truncated last frame (should not happen on a complete response): keep what arrived.
    const end = Math.min(start + len, buf.length);
    parts.push(buf.subarray(start, end));
    frames++;
    off = end;
  }
  return { payload: Buffer.concat(parts), frames };
}

/** Payload bytes of a multiplexed Docker log/attach stream (see demuxDockerFrames). */
export function demuxDockerLogs(buf: Buffer): Buffer {
  return demuxDockerFrames(buf).payload;
}

/**
 * The last `maxBytes` bytes of `buf` as UTF-8 text. Cutting at a byte offset can land inside a
 * multi-byte character; its leftover continuation bytes (10xxxxxx) are dropped rather than
 * rendered as U+FFFD at the start of the tail.
 */
export function utf8Tail(buf: Buffer, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  if (buf.length <= maxBytes) return buf.toString('utf8');
  let start = buf.length - maxBytes;
  // At most 3 continuation bytes can follow a lead byte.
  for (let i = 0; i < 3 && start < buf.length && (buf[start]! & 0xc0) === 0x80; i++) start++;
  return buf.subarray(start).toString('utf8');
}


/** What a tail read cost, for tests and benchmarks: bytes that came through, and the most it ever held. */
export interface TailMeter {
  /** Payload and header bytes read from the engine. */
  streamedBytes: number;
  /** The largest number of bytes the reader kept at once (its ring plus a partial frame header). */
  peakHeldBytes: number;
}

/**
 * The last `maxBytes` payload bytes of a multiplexed Docker log stream, read chunk by chunk
 * through a fixed ring of maxBytes: memory stays O(maxBytes) whatever the line lengths (a log
 * of 12 KB lines used to be loaded whole, ~24 MB per read, to return 64 KiB). Frames may split
 * anywhere across chunks; a stream that does not start with a frame header (a TTY container's
 * raw output) is taken as payload.
 */
export class TailReader {
  private readonly ring: Buffer;
  private start = 0;
  private len = 0;
  private readonly header = Buffer.alloc(8);
  private headerLen = 0;
  /** Payload bytes still to come of the current frame. */
  private remaining = 0;
  private mode: 'unknown' | 'frames' | 'raw' = 'unknown';
  /** Payload was dropped off the front (more came than maxBytes). */
  private cut = false;
  frames = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly meter?: TailMeter,
  ) {
    this.ring = Buffer.alloc(Math.max(0, maxBytes));
  }

  /** Payload bytes kept so far (at most maxBytes). */
  get kept(): number {
    return this.len;
  }

  write(chunk: Buffer): void {
    if (this.meter) this.meter.streamedBytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      if (this.mode === 'raw') {
        this.keep(chunk.subarray(off));
        break;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        this.keep(chunk.subarray(off, off + n));
        this.remaining -= n;
        off += n;
        continue;
      }
      const n = Math.min(8 - this.headerLen, chunk.length - off);
      chunk.copy(this.header, this.headerLen, off, off + n);
      this.headerLen += n;
      off += n;
      this.note();
      if (this.headerLen < 8) {
        // A header can only be [0-2, 0, 0, 0, …]: anything else in the first bytes is raw output.
        if (!this.headerPrefixOk()) this.toRaw();
        continue;
      }
      if (!this.headerPrefixOk()) {
        this.toRaw();
        continue;
      }
      this.mode = 'frames';
      this.remaining = this.header.readUInt32BE(4);
      this.headerLen = 0;
      this.frames++;
    }
  }

  /** The tail as UTF-8 text, without a broken leading character (see utf8Tail). */
  text(): string {
    const out = Buffer.alloc(this.len);
    const first = Math.min(this.len, this.ring.length - this.start);
    this.ring.copy(out, 0, this.start, this.start + first);
    this.ring.copy(out, first, 0, this.len - first);
    if (!this.cut) return out.toString('utf8');
    // Bytes were dropped before the ring's start: it may begin inside a character.
    let start = 0;
    for (let i = 0; i < 3 && start < out.length && (out[start]! & 0xc0) === 0x80; i++) start++;
    return out.subarray(start).toString('utf8');
  }

  private headerPrefixOk(): boolean {
    for (let i = 0; i < Math.min(this.headerLen, 4); i++) {
      if (i === 0 ? this.header[0]! > 2 : this.header[i] !== 0) return false;
    }
    return true;
  }

  /** Not frames after all (or a corrupt one): what was taken for a header is output. */
  private toRaw(): void {
    if (this.mode === 'unknown') this.mode = 'raw';
    const pending = Buffer.from(this.header.subarray(0, this.headerLen));
    this.headerLen = 0;
    this.mode = 'raw';
    this.keep(pending);
  }

  private keep(b: Buffer): void {
    const cap = this.ring.length;
    if (cap === 0 || b.length === 0) return;
    if (this.len + b.length > cap) this.cut = true;
    if (b.length >= cap) {
      b.copy(this.ring, 0, b.length - cap);
      this.start = 0;
      this.len = cap;
    } else {
      let end = (this.start + this.len) % cap;
      let off = 0;
      while (off < b.length) {
        const n = Math.min(b.length - off, cap - end);
        b.copy(this.ring, end, off, off + n);
        off += n;
        end = (end + n) % cap;
      }
      const total = this.len + b.length;
      if (total > cap) {
        this.start = (this.start + (total - cap)) % cap;
        this.len = cap;
      } else this.len = total;
    }
    this.note();
  }

  private note(): void {
    if (this.meter) this.meter.peakHeldBytes = Math.max(this.meter.peakHeldBytes, this.len + this.headerLen);
  }
}
