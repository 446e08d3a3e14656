/**
 * Every text colour of the palette (client/styles.css) against every background it is used on, in
 * the light and the dark theme: WCAG AA asks 4.5:1 for body text. axe-core checks the rendered page
 * (test/e2e/v3.test.ts); this checks the palette itself, including pairs no page happens to show now.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const css = readFileSync(new URL('../../client/styles.css', import.meta.url), 'utf8');

function palette(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of block.matchAll(/--([a-z0-9-]+):\s*(#[0-9a-f]{6})\s*;/gi)) out[m[1]!] = m[2]!.toLowerCase();
  return out;
}

const light = palette(css.slice(css.indexOf(':root {'), css.indexOf('@media (prefers-color-scheme: dark)')));
const dark = { ...light, ...palette(css.slice(css.indexOf('@media (prefers-color-scheme: dark)'), css.indexOf('* { box-sizing'))) };

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** Text colour -> the backgrounds the stylesheet and the views put it on. */
const USED: Record<string, string[]> = {
  ink: ['bg', 'surface', 'surface-2', 'accent-soft', 'bad-soft'],
  'ink-2': ['bg', 'surface', 'surface-2', 'accent-soft', 'bad-soft'],
  'ink-3': ['bg', 'surface', 'surface-2', 'accent-soft'],
  'accent-ink': ['bg', 'surface', 'surface-2', 'accent-soft'],
  love: ['surface', 'love-soft'],
  ok: ['surface', 'surface-2'],
  warn: ['surface', 'surface-2'],
  bad: ['surface', 'surface-2', 'bad-soft'],
  'on-accent': ['accent'],
  'on-bad': ['bad'],
  'on-ok': ['ok'],
};

describe('the palette', () => {
  it('computes WCAG contrast the way the standard does', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  for (const [name, theme] of [['light', light], ['dark', dark]] as const) {
    it(`reaches 4.5:1 for every text colour on every background it is used on, ${name} theme`, () => {
      const failures: string[] = [];
      for (const [fg, bgs] of Object.entries(USED)) {
        for (const bg of bgs) {
          expect(theme[fg], `--${fg}`).toMatch(/^#/);
          expect(theme[bg], `--${bg}`).toMatch(/^#/);
          const ratio = contrast(theme[fg]!, theme[bg]!);
          if (ratio < 4.5) failures.push(`--${fg} on --${bg}: ${ratio.toFixed(2)}:1`);
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
