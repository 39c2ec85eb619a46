import type { ReactNode } from 'react';

export function Card({ title, actions, children, className = '', bodyClassName = 'p-4' }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string; bodyClassName?: string }) {
  return (
    <section className={`rounded-xl bg-white shadow-sm ring-1 ring-zinc-200 ${className}`}>
      {title || actions ? (
        <header className="flex items-center justify-between gap-3 border-b border-zinc-100 px-4 py-2.5">
          {title ? <h2 className="text-sm font-semibold text-zinc-900">{title}</h2> : <span />}
          {actions}
        </header>
      ) : null}
      <div className={bodyClassName}>{children}</div>
    </section>
  );
}

export function PageHeader({ title, description, actions }: { title: ReactNode; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-5 flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 className="truncate text-xl font-semibold tracking-tight text-zinc-900">{title}</h1>
        {description ? <div className="mt-1 text-sm text-zinc-600">{description}</div> : null}
      </div>
      {actions ? <div className="flex items-center gap-2">{actions}</div> : null}
    </div>
  );
}

/** Table shell: horizontal scroll on narrow screens, sticky header; `className` adds to the table's. */
export function Table({ children, label, className = '' }: { children: ReactNode; label: string; className?: string }) {
  return (
    <div className="overflow-x-auto">
      <table aria-label={label} className={`min-w-full divide-y divide-zinc-200 text-sm ${className}`}>
        {children}
      </table>
    </div>
  );
}

export const th = 'px-3 py-2 text-left text-xs font-medium uppercase tracking-wide text-zinc-500 whitespace-nowrap';
export const td = 'px-3 py-2 align-middle text-zinc-800';

/**
 * The actions cell of a row: it stays at the right edge of the table's scroll box, so on a narrow
 * screen Kill and Extend are in view while the other columns scroll under them.
 */
export const stickyAction = 'sticky right-0 z-[1] bg-white shadow-[-8px_0_8px_-8px_rgb(0_0_0/0.15)]';

/**
 * The header row: with `select` a first cell holding it (a select-all checkbox), a column header
 * per name, then with `actions` a right-aligned one named "Actions" for screen readers only.
 */
export function THead({ columns, actions = false, select }: { columns: readonly string[]; actions?: boolean; select?: ReactNode }) {
  return (
    <thead className="bg-zinc-50">
      <tr>
        {select ? (
          <th scope="col" className={`${th} w-8 pr-0`}>
            {select}
          </th>
        ) : null}
        {columns.map((c) => (
          <th key={c} scope="col" className={th}>
            {c}
          </th>
        ))}
        {actions ? (
          <th scope="col" className={`${th} ${stickyAction} bg-zinc-50 text-right`}>
            <span className="sr-only">Actions</span>
          </th>
        ) : null}
      </tr>
    </thead>
  );
}

export function TBody({ children }: { children: ReactNode }) {
  return <tbody className="divide-y divide-zinc-100 bg-white">{children}</tbody>;
}

export function Forbidden({ role, what }: { role: string; what: string }) {
  return (
    <div className="rounded-lg border border-zinc-200 bg-white px-6 py-10 text-center">
      <p className="text-sm font-medium text-zinc-900">{what} needs the {role} role</p>
      <p className="mt-1 text-sm text-zinc-500">Ask an admin if you need access.</p>
    </div>
  );
}
