import type { LogLine } from '../../server/runtime/types';

export interface SseEvent {
  event: string;
  data: unknown;
  /** The event's `id:` field, when it had one ('' resets the last event id). */
  id?: string;
}

/**
 * Reads Server-Sent Events off a response body as they come, parsed as a browser does (fields
 * `event`, `data`, `id`, with or without a value; comments kept apart). `lastEventId` is what an
 * EventSource would send back as Last-Event-ID on its reconnect.
 */
export function sse(res: Response) {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let ended = false;
  let lastEventId = '';
  const pump = async () => {
    const c = await reader.read();
    if (c.done) {
      ended = true;
      return;
    }
    buf += dec.decode(c.value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: SseEvent = { event: 'message', data: null };
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          comments.push(line);
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') ev.event = value;
        else if (field === 'data') data += value;
        else if (field === 'id') {
          ev.id = value;
          lastEventId = value;
        }
      }
      if (data) {
        ev.data = JSON.parse(data);
        events.push(ev);
      }
    }
  };
  return {
    events,
    comments,
    get ended() {
      return ended;
    },
    get lastEventId() {
      return lastEventId;
    },
    /** Reads until `pred` holds of what came so far. */
    async until(pred: () => boolean, what: string, timeoutMs = 30_000) {
      const t0 = Date.now();
      while (!pred()) {
        if (ended) throw new Error(`stream ended before ${what}: ${JSON.stringify(events).slice(-400)}`);
        if (Date.now() - t0 > timeoutMs) throw new Error(`no ${what} within ${timeoutMs / 1000} s`);
        await pump();
      }
    },
    lines: () => events.filter((e) => e.event === 'line').map((e) => e.data as LogLine),
    lineEvents: () => events.filter((e) => e.event === 'line'),
    cancel: () => reader.cancel(),
  };
}
