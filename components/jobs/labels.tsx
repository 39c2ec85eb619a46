/** key=value chips; values are user-controlled and rendered as text only. */
export function Labels({ labels, max }: { labels: Record<string, string> | null | undefined; max?: number }) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return null;
  const shown = max ? entries.slice(0, max) : entries;
  return (
    <span className="inline-flex min-w-0 flex-wrap gap-1">
      {shown.map(([k, v]) => (
        <span key={k} className="max-w-[16rem] truncate rounded bg-zinc-100 px-1.5 py-0.5 font-mono text-[11px] text-zinc-700" title={`${k}=${v}`}>
          {k}={v}
        </span>
      ))}
      {max && entries.length > max ? <span className="text-[11px] text-zinc-500">+{entries.length - max}</span> : null}
    </span>
  );
}
