import { Readable } from 'node:stream';
import { extract, pack, type Header } from 'tar-stream';

/**
 * Caps a tar stream (what Docker's archive API sends for a path) at a byte budget while keeping
 * it a valid tar: whole entries are kept in order as long as the re-packed archive stays within
 * `maxBytes`; at the first entry that would not fit the source is abandoned (never read further,
 * so a 10 GB file costs nothing) and the result says it was truncated.
 */

export interface CappedArchive {
  /** A complete tar (end-of-archive blocks included). */
  tar: Buffer;
  bytes: number;
  /** Entries kept (files, directories, links). */
  files: number;
  truncated: boolean;
}

const BLOCK = 512;
/** End-of-archive: two zero blocks. */
const TRAILER = 2 * BLOCK;
const pad = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/**
 * Bytes an entry takes in the re-packed tar: its header, a PAX header when a name does not fit
 * ustar's 100 bytes (tar-stream writes one then; its records are well under 512 bytes per name),
 * and the data padded to whole blocks.
 */
export function entryCost(h: Pick<Header, 'name' | 'linkname' | 'size' | 'type'>): number {
  const long = Buffer.byteLength(h.name) > 100 || Buffer.byteLength(h.linkname ?? '') > 100;
  const pax = long ? BLOCK + pad(Buffer.byteLength(h.name) + Buffer.byteLength(h.linkname ?? '') + 64) : 0;
  const data = h.type === 'file' || h.type === 'contiguous-file' || h.type == null ? pad(h.size ?? 0) : 0;
  return BLOCK + pax + data;
}

export async function capTar(src: NodeJS.ReadableStream, maxBytes: number): Promise<CappedArchive> {
  const input = src instanceof Readable ? src : Readable.from(src as AsyncIterable<Buffer>);
  const ex = extract();
  const out = pack();
  const chunks: Buffer[] = [];
  out.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const packed = new Promise<void>((resolve, reject) => {
    out.on('end', () => resolve());
    out.on('error', reject);
  });
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex);
  let used = TRAILER;
  let files = 0;
  let truncated = false;
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const cost = entryCost(h);
      if (used + cost > maxBytes) {
        truncated = true;
        entry.resume();
        break;
      }
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      await new Promise<void>((resolve, reject) => out.entry({ ...h, pax: undefined }, Buffer.concat(parts), (e) => (e ? reject(e) : resolve())));
      used += cost;
      files++;
    }
  } finally {
    if (truncated) {
      // Stop reading from the engine: nothing past the cap is wanted.
      input.unpipe(ex);
      (input as Readable).destroy?.();
      ex.destroy();
    }
  }
  out.finalize();
  await packed;
  const tar = Buffer.concat(chunks);
  return { tar, bytes: tar.length, files, truncated };
}
