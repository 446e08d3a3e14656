/**
 * Feed versions and migrations are pure: they import only immer and other feed code, and name none of
 * the ambient powers (time, randomness, timers, process, network). The kernel's sandbox enforces this
 * at run time; this test fails at review time, naming the file and the line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const FORBIDDEN = /\b(Date|setTimeout|setInterval|setImmediate|queueMicrotask|process|require|fetch|globalThis|eval|performance|crypto)\b|\bMath\s*\.\s*random\b|\bMath\s*\[|\bnew\s+Function\b/;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...files(full));
    else if (name.endsWith('.ts') && name !== 'view.ts') out.push(full);
  }
  return out;
}

/** Problems with one file's source: runtime imports outside `allowed` roots, forbidden identifiers. */
export function impurities(file: string, source: string, allowed: readonly string[]): string[] {
  const problems: string[] = [];
  // esbuild erases types (so `import type` disappears) and comments; what is left is what runs
  const js = transformSync(source, { loader: 'ts', format: 'esm', sourcefile: file }).code;
  for (const m of js.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
    const spec = m[1]!;
    if (spec === 'immer') continue;
    if (!spec.startsWith('.')) {
      problems.push(`${file}: imports ${spec}`);
      continue;
    }
    const target = path.resolve(path.dirname(file), spec);
    if (path.basename(target) === 'view.ts') problems.push(`${file}: imports browser view code ${spec}`);
    else if (!allowed.some((root) => target.startsWith(root + path.sep))) problems.push(`${file}: imports ${spec}, outside feed code`);
  }
  if (/\bimport\s*\(/.test(js)) problems.push(`${file}: dynamic import`);
  js.split('\n').forEach((line, i) => {
    const hit = FORBIDDEN.exec(line);
    if (hit) problems.push(`${file}: uses ${hit[0]} (line ${i + 1} of the compiled code: ${line.trim()})`);
  });
  return problems;
}

const FEED = path.join(ROOT, 'src/feed');
const MIGRATIONS = path.join(ROOT, 'migrations');
const EXAMPLES = path.join(ROOT, 'examples');

const groups: [string, string[], string[]][] = [
  ['src/feed/v*/ and lib/', readdirSync(FEED).filter((d) => /^(v\d+|lib)$/.test(d)).flatMap((d) => files(path.join(FEED, d))), [FEED]],
  ['migrations/', files(MIGRATIONS), [FEED, MIGRATIONS]],
  ['examples/', files(EXAMPLES), [FEED, MIGRATIONS, EXAMPLES]],
];

describe('purity', () => {
  for (const [name, list, allowed] of groups) {
    it(`keeps ${name} free of I/O, time, randomness and imports other than immer and feed code`, () => {
      expect(list.length).toBeGreaterThan(0);
      const problems = list.flatMap((file) => impurities(path.relative(ROOT, file), readFileSync(file, 'utf8'), allowed));
      expect(problems).toEqual([]);
    });
  }

  it('catches the impurities it looks for', () => {
    const at = path.join(FEED, 'v1/x.ts');
    const check = (src: string) => impurities(at, src, [FEED]);
    expect(check(`import { readFileSync } from 'node:fs'; export const a = readFileSync;`)).toHaveLength(1);
    expect(check(`import { x } from '../../kernel/kernel.ts'; export const a = x;`)[0]).toMatch(/outside feed code/);
    expect(check(`import { v } from './view.ts'; export const a = v;`)[0]).toMatch(/browser view/);
    expect(check(`export const now = () => Date.now();`)[0]).toMatch(/uses Date/);
    expect(check(`export const r = () => Math. random();`)[0]).toMatch(/Math\.random/);
    expect(check(`export const r = () => Math["random"]();`)[0]).toMatch(/Math\[/);
    expect(check(`export const t = () => setTimeout(() => {}, 1);`)[0]).toMatch(/setTimeout/);
    expect(check(`export const e = () => process.env;`)[0]).toMatch(/process/);
    expect(check(`export const f = () => fetch('x');`)[0]).toMatch(/fetch/);
    expect(check(`export const m = () => import('node:fs');`).length).toBeGreaterThan(0);
    // types, comments and immer are fine
    expect(check(`// Date.now() is not allowed\nimport type { Context } from '../../contract.ts';\nimport { produce } from 'immer';\nexport const p = produce;\nexport type C = Context;`)).toEqual([]);
  });
});
