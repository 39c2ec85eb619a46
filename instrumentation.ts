/**
 * Next.js start-up hook. Node-only modules are imported dynamically inside the nodejs branch so
 * the edge bundle never sees them; `register()` does not run during `next build`.
 */
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { boot } = await import('./server/boot');
    await boot();
  }
}
