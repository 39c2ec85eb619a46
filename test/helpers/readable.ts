import type { Locator, Page } from 'playwright-core';

/**
 * Colour checks for browser tests. Chromium computes Tailwind 4's colours as oklch()/lab(), so
 * every colour goes through a 1×1 canvas, which gives sRGB; stacked translucent backgrounds are
 * painted onto it in order, so what is measured is what the screen shows.
 */

export type Rgb = [number, number, number];

/** A CSS colour as sRGB, painted over white (so a translucent colour reads as it shows on white). */
export async function rgb(page: Page, css: string): Promise<Rgb> {
  return page.evaluate((c) => {
    const cv = document.createElement('canvas');
    cv.width = cv.height = 1;
    const x = cv.getContext('2d')!;
    x.fillStyle = '#fff';
    x.fillRect(0, 0, 1, 1);
    x.fillStyle = c;
    x.fillRect(0, 0, 1, 1);
    const d = x.getImageData(0, 0, 1, 1).data;
    return [d[0]!, d[1]!, d[2]!] as Rgb;
  }, css);
}

/** WCAG relative luminance, 0 (black) to 1 (white). */
export const luminance = ([r, g, b]: Rgb): number => {
  const f = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};

/** WCAG contrast ratio, 1 to 21. */
export const contrast = (a: Rgb, b: Rgb): number => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
};

/** The page's background (the body's, as the screen shows it). */
export async function pageBackground(page: Page): Promise<Rgb> {
  return rgb(page, await page.evaluate(() => getComputedStyle(document.body).backgroundColor));
}

export interface Unreadable {
  text: string;
  ratio: number;
  needs: number;
  fg: Rgb;
  bg: Rgb;
  className: string;
}

/**
 * Every piece of visible text inside `scope` (the whole page by default) whose contrast with
 * what is behind it is below WCAG AA: 4.5, or 3 for large text (24 px, or 18.7 px bold). The
 * background is every ancestor's background colour painted in order over white, the text colour
 * painted over that. Form fields' values count; disabled controls (and anything faded with
 * opacity, which is how disabled looks here), text for screen readers only and SVG text do not. Returns what fails, empty when
 * everything reads.
 */
export async function unreadableText(page: Page, scope?: Locator): Promise<Unreadable[]> {
  const handle = scope ? await scope.elementHandle() : await page.evaluateHandle(() => document.body);
  try {
    return await page.evaluate((root) => {
      const cv = document.createElement('canvas');
      cv.width = cv.height = 1;
      const x = cv.getContext('2d', { willReadFrequently: true })!;
      const paint = (layers: string[]) => {
        x.fillStyle = '#fff';
        x.fillRect(0, 0, 1, 1);
        for (const c of layers) {
          x.fillStyle = '#fff0';
          x.fillStyle = c;
          x.fillRect(0, 0, 1, 1);
        }
        const d = x.getImageData(0, 0, 1, 1).data;
        return [d[0]!, d[1]!, d[2]!] as [number, number, number];
      };
      const lum = (c: [number, number, number]) =>
        c.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4)).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i]!, 0);
      const ratio = (a: [number, number, number], b: [number, number, number]) => {
        const [hi, lo] = [lum(a), lum(b)].sort((p, q) => q - p) as [number, number];
        return (hi + 0.05) / (lo + 0.05);
      };
      const out: { text: string; ratio: number; needs: number; fg: [number, number, number]; bg: [number, number, number]; className: string }[] = [];
      const els = new Set<Element>();
      const walker = document.createTreeWalker(root as Element, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const t = walker.currentNode;
        if (!t.textContent?.trim() || !t.parentElement) continue;
        const range = document.createRange();
        range.selectNodeContents(t);
        const r = range.getBoundingClientRect();
        if (r.width < 2 || r.height < 2) continue;
        els.add(t.parentElement);
      }
      for (const f of (root as Element).querySelectorAll('input:not([type=checkbox]):not([type=radio]):not([type=hidden]), select, textarea')) {
        if ((f as HTMLInputElement).value) els.add(f);
      }
      for (const el of els) {
        if (el.closest('svg, script, style, noscript, option')) continue;
        if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
        if (el.closest(':disabled, [aria-disabled="true"]')) continue;
        const chain: Element[] = [];
        let skip = false;
        for (let a: Element | null = el; a; a = a.parentElement) {
          const cs = getComputedStyle(a);
          if (Number(cs.opacity) < 1) skip = true;
          // Visually hidden for screen readers only (sr-only: clipped to a pixel).
          if (cs.clipPath.startsWith('inset') || cs.clip.startsWith('rect')) {
            const r = a.getBoundingClientRect();
            if (r.width <= 1 || r.height <= 1) skip = true;
          }
          chain.unshift(a);
        }
        if (skip) continue;
        const bg = paint(chain.map((a) => getComputedStyle(a).backgroundColor));
        const style = getComputedStyle(el);
        const fg = paint([`rgb(${bg.join(' ')})`, style.color]);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
        const needs = large ? 3 : 4.5;
        const c = ratio(fg, bg);
        if (c < needs) {
          const text = (el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement ? el.value : el.textContent ?? '').trim().slice(0, 60);
          out.push({ text, ratio: Math.round(c * 100) / 100, needs, fg, bg, className: String(el.getAttribute('class') ?? '').slice(0, 120) });
        }
      }
      return out;
    }, handle);
  } finally {
    await handle?.dispose();
  }
}
