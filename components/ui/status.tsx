const STYLES: Record<string, string> = {
  queued: 'bg-zinc-100 text-zinc-700 ring-zinc-300',
  starting: 'bg-sky-50 text-sky-700 ring-sky-200',
  running: 'bg-blue-50 text-blue-700 ring-blue-200',
  terminating: 'bg-amber-50 text-amber-800 ring-amber-200',
  succeeded: 'bg-emerald-50 text-emerald-700 ring-emerald-200',
  failed: 'bg-rose-50 text-rose-700 ring-rose-200',
  timed_out: 'bg-orange-50 text-orange-800 ring-orange-200',
  killed: 'bg-red-50 text-red-700 ring-red-200',
  lost: 'bg-fuchsia-50 text-fuchsia-700 ring-fuchsia-200',
  cancelled: 'bg-zinc-50 text-zinc-500 ring-zinc-200',
};

const LABELS: Record<string, string> = { timed_out: 'timed out' };

export function StatusChip({ status }: { status: string }) {
  return (
    <span className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${STYLES[status] ?? STYLES.queued}`}>
      {status === 'running' ? <span aria-hidden className="size-1.5 animate-pulse rounded-full bg-blue-500" /> : null}
      {LABELS[status] ?? status}
    </span>
  );
}

export function Badge({ children, tone = 'zinc', title }: { children: React.ReactNode; tone?: 'zinc' | 'amber' | 'red' | 'indigo' | 'emerald'; title?: string }) {
  const t = {
    zinc: 'bg-zinc-100 text-zinc-700 ring-zinc-200',
    amber: 'bg-amber-50 text-amber-800 ring-amber-300',
    red: 'bg-red-50 text-red-700 ring-red-200',
    indigo: 'bg-indigo-50 text-indigo-700 ring-indigo-200',
    emerald: 'bg-emerald-50 text-emerald-700 ring-emerald-200',
  }[tone];
  return (
    <span title={title} className={`inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset ${t}`}>
      {children}
    </span>
  );
}
