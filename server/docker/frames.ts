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

