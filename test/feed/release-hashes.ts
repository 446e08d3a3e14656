/**
 * What "the sources of a released version" are: the files its index.ts imports, transitively, within
 * src/feed/ (type imports included, view.ts excluded), each with its SHA-256. Used by released.test.ts
 * and by record-release.ts, which writes them into src/feed/released.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RELEASED = path.join(ROOT, 'src/feed/released.json');
const FEED = path.join(ROOT, 'src/feed');

/** version -> (path relative to the repo root -> sha256 hex) */
export type Released = Record<string, Record<string, string>>;

export function importsOf(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^;]*?(?:\bfrom\s*)?['"]([^'"]+)['"]/gm)) specs.push(m[1]!);
  return specs;
}

/** The version's sources within src/feed/, sorted, relative to the repo root. */
export function sourcesOf(version: number): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    if (!existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is imported but does not exist`);
    seen.add(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (target.startsWith(FEED + path.sep) && path.basename(target) !== 'view.ts') visit(target);
    }
  };
  visit(path.join(FEED, `v${version}`, 'index.ts'));
  return [...seen].map((f) => path.relative(ROOT, f).split(path.sep).join('/')).sort();
}

export function hashesOf(version: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of sourcesOf(version)) {
    out[file] = createHash('sha256').update(readFileSync(path.join(ROOT, file))).digest('hex');
  }
  return out;
}

export function readReleased(): Released {
  return JSON.parse(readFileSync(RELEASED, 'utf8')) as Released;
}
