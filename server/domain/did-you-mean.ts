import { distance } from 'fastest-levenshtein';

/**
 * The known name a mistyped one most likely meant, or undefined when none is close: an exact
 * match but for case; else a known name that contains it or that it contains ("timeout" →
 * "timeoutSeconds"), the shortest such; else the nearest by edit distance within a third of the
 * name's length (at least 2), so "imgae" → "image" but "foo" suggests nothing.
 */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  if (!w) return undefined;
  const exact = known.find((k) => k.toLowerCase() === w);
  if (exact) return exact;
  if (w.length >= 3) {
    const contains = known.filter((k) => k.toLowerCase().includes(w) || w.includes(k.toLowerCase())).sort((a, b) => a.length - b.length);
    if (contains.length) return contains[0];
  }
  const max = Math.max(2, Math.floor(w.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(w, k.toLowerCase());
    if (d <= max && d < bestD) [best, bestD] = [k, d];
  }
  return best;
}
