import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Every import of every .ts file under `dir`, resolved to a path from the root when it is relative. */
const importsOf = (dir: string): { file: string; spec: string }[] =>
  readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      [...readFileSync(path.join(ROOT, dir, f), 'utf8').matchAll(/^\s*(?:import|export)\s(?:[^'"]*from\s+)?['"]([^'"]+)['"]/gm)].map((m) => {
        const spec = m[1]!;
        return { file: `${dir}/${f}`, spec: spec.startsWith('.') ? path.relative(ROOT, path.resolve(ROOT, dir, path.dirname(f), spec)) : spec };
      }),
    );

describe('the tree keeps its boundaries', () => {
  it('the kernel never imports feed code, migrations or transports: it is never reloaded and knows only the contract', () => {
    // node's own modules, the libraries it is built on (a parser to bound release code's syntax among
    // them), its own files, and the feed contract: no wire frames
    const libraries = ['immer', 'ses', 'msgpackr', 'acorn', 'acorn-walk', 'magic-string'];
    const allowed = (spec: string) => spec.startsWith('node:') || libraries.includes(spec) || spec.startsWith('src/kernel/') || spec === 'src/contract.ts';
    const imports = importsOf('src/kernel');
    expect(imports.filter((i) => i.file.startsWith('src/kernel/upgrade/')).length).toBeGreaterThan(10); // the scan sees subfolders
    expect(imports.filter((i) => !allowed(i.spec))).toEqual([]);
  });

  it('the wire frames are made in the transport, from what the kernel tells a connection', () => {
    const wire = importsOf('src').filter((i) => i.spec === 'src/transport/protocol.ts').map((i) => i.file);
    expect(wire.some((f) => f.startsWith('src/kernel/'))).toBe(false);
    expect(wire).toContain('src/transport/frames.ts');
  });

  it('transports reach the kernel, never a feed version', () => {
    expect(importsOf('src/transport').filter((i) => /feed|migrations/.test(i.spec))).toEqual([]);
  });
});
