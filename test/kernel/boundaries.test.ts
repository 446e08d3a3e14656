import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const importsOf = (dir: string) =>
  readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(path.join(ROOT, dir, f), 'utf8').matchAll(/^\s*(?:import|export)\s[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => ({ file: `${dir}/${f}`, spec: m[1]! })));

describe('the tree keeps its boundaries', () => {
  it('the kernel never imports feed code, migrations or transports: it is never reloaded and knows only the contract', () => {
    const allowed = (spec: string) => spec.startsWith('node:') || spec === 'immer' || spec.startsWith('./') || spec === '../contract.ts' || spec === '../transport/protocol.ts';
    const imports = importsOf('src/kernel');
    expect(imports.length).toBeGreaterThan(20); // the scan sees the imports at all
    expect(imports.filter((i) => !allowed(i.spec))).toEqual([]);
  });

  it('transports reach the kernel, never a feed version', () => {
    expect(importsOf('src/transport').filter((i) => /feed|migrations/.test(i.spec))).toEqual([]);
  });
});
