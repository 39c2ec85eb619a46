'use client';

import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { logoutAction } from '@/server/actions/auth';
import { useMe } from './lib/me';
import { ThemeToggle } from './lib/theme';

const LINKS = [
  { href: '/overview', label: 'Overview' },
  { href: '/jobs', label: 'Jobs' },
  { href: '/users', label: 'Users' },
  { href: '/plans', label: 'Plans' },
  { href: '/classes', label: 'Classes' },
  { href: '/orphans', label: 'Orphans' },
  { href: '/audit', label: 'Audit' },
  { href: '/sweepers', label: 'Sweepers' },
  { href: '/nodes', label: 'Nodes' },
  { href: '/webhooks', label: 'Webhooks' },
  { href: '/operators', label: 'Operators', admin: true },
];

const ROLE_TONE = { viewer: 'bg-zinc-100 text-zinc-700', operator: 'bg-sky-50 text-sky-700', admin: 'bg-indigo-50 text-indigo-700' } as const;

export function Nav() {
  const path = usePathname();
  const me = useMe();
  const router = useRouter();
  const [pending, start] = useTransition();
  const [menu, setMenu] = useState(false);
  const links = LINKS.filter((l) => !l.admin || me.can('admin'));
  const isActive = (href: string) => path === href || path.startsWith(`${href}/`);
  return (
    <header className="sticky top-0 z-30 border-b border-zinc-200 bg-white/95 backdrop-blur">
      <div className="mx-auto flex h-14 w-full max-w-[1600px] items-center gap-2 px-3 sm:gap-4 sm:px-6 lg:px-8">
        <Link href="/overview" className="flex shrink-0 items-center gap-2 rounded focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">
          <span aria-hidden className="grid size-7 place-items-center rounded-md bg-indigo-600 text-xs font-bold text-white">W</span>
          <span className="font-semibold tracking-tight">Warden</span>
        </Link>
        <nav aria-label="Main" className="-mx-1 hidden min-w-0 flex-1 items-center gap-0.5 overflow-x-auto md:flex">
          {links.map((l) => (
            <NavLink key={l.href} href={l.href} label={l.label} active={isActive(l.href)} />
          ))}
        </nav>
        <span className="flex-1 md:hidden" />
        <div className="flex shrink-0 items-center gap-2 sm:gap-3">
          <ThemeToggle />
          <span className="hidden text-sm text-zinc-600 md:inline" title={me.email}>
            {me.email}
          </span>
          <span className={`rounded px-1.5 py-0.5 text-[11px] font-medium ${ROLE_TONE[me.role]}`}>{me.role}</span>
          <button
            type="button"
            disabled={pending}
            onClick={() =>
              start(async () => {
                await logoutAction({}).catch(() => null);
                router.replace('/login');
                router.refresh();
              })
            }
            className="rounded-md px-2.5 py-1.5 text-sm font-medium text-zinc-700 hover:bg-zinc-100 focus-visible:outline-2 focus-visible:outline-indigo-600 disabled:opacity-50"
          >
            Log out
          </button>
          <button
            type="button"
            aria-expanded={menu}
            aria-controls="nav-menu"
            onClick={() => setMenu((m) => !m)}
            className="rounded-md px-2.5 py-1.5 text-sm font-medium text-zinc-700 ring-1 ring-zinc-200 hover:bg-zinc-100 focus-visible:outline-2 focus-visible:outline-indigo-600 md:hidden"
          >
            Menu
          </button>
        </div>
      </div>
      {menu ? (
        <nav id="nav-menu" aria-label="Main" className="border-t border-zinc-200 px-4 py-2 md:hidden">
          <ul className="grid grid-cols-2 gap-1">
            {links.map((l) => (
              <li key={l.href}>
                <NavLink href={l.href} label={l.label} active={isActive(l.href)} block onClick={() => setMenu(false)} />
              </li>
            ))}
          </ul>
        </nav>
      ) : null}
    </header>
  );
}

function NavLink({ href, label, active, block = false, onClick }: { href: string; label: string; active: boolean; block?: boolean; onClick?: () => void }) {
  return (
    <Link
      href={href}
      onClick={onClick}
      aria-current={active ? 'page' : undefined}
      className={`rounded-md px-2.5 py-1.5 text-sm font-medium whitespace-nowrap focus-visible:outline-2 focus-visible:outline-indigo-600 ${block ? 'block' : ''} ${
        active ? 'bg-zinc-100 text-zinc-900' : 'text-zinc-600 hover:bg-zinc-50 hover:text-zinc-900'
      }`}
    >
      {label}
    </Link>
  );
}
