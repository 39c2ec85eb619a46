import type postgres from 'postgres';
import { LIVE_STREAMS_PER_USER, type LiveHub } from './live-hub';
import type { Actor } from '../domain/actor';
import { AppError, RetryLaterError } from '../domain/errors';

/** What a refused stream is told to wait: streams end when their readers leave. */
const RETRY_AFTER_S = 30;

/**
 * GET /api/v1/events: a key's live stream of what changed (Server-Sent Events from the process's
 * LISTEN warden_live hub, server/dashboard/live-hub.ts). A user key hears only its own jobs
 * (`job:<id>:<status>`, `jobs` when one was submitted); operator keys hear everything the
 * dashboard does (also `node`, `sweeper`). Events carry no job data: readers re-read through the
 * ordinary endpoints, which scope by user. `warden jobs list --watch` redraws on them.
 *
 * 503 `live_unavailable` when this process cannot LISTEN; 429 `too_many_streams` past
 * WARDEN_LIVE_MAX_CLIENTS streams per process or LIVE_STREAMS_PER_USER per user.
 */
export async function openEventStream(
  hub: LiveHub,
  sql: postgres.Sql,
  actor: Actor,
  signal: AbortSignal,
  maxClients: number,
): Promise<ReadableStream<Uint8Array>> {
  const userId = actor.kind === 'user' ? actor.id : null;
  if (userId !== null && hub.countFor(userId) >= LIVE_STREAMS_PER_USER) {
    throw new RetryLaterError('too_many_streams', `You already hold ${LIVE_STREAMS_PER_USER} event streams, the most one user may at once; close one`, RETRY_AFTER_S);
  }
  try {
    await hub.ensureListening(sql);
  } catch {
    throw new AppError(503, 'live_unavailable', 'The event stream is unavailable on this server right now; read the jobs again in a while');
  }
  const body = hub.stream(signal, maxClients, userId);
  if (!body) throw new RetryLaterError('too_many_streams', 'This server already serves its maximum of event streams (WARDEN_LIVE_MAX_CLIENTS); try again shortly', RETRY_AFTER_S);
  return body;
}
