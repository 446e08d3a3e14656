/**
 * The frozen sources of a released feed version: the files its index.ts imports, transitively, that
 * live in a version folder (src/feed/vN/), each with its SHA-256, kept in src/feed/released.json.
 *
 * A version folder says what that version is, and later versions import it, so once released it never
 * changes. The shared library (src/feed/lib/) is followed through but not frozen: a fix there reaches
 * every version built from source, and none that is released, because a released version runs from its
 * archived bundle (releases/vN.json, see build.ts and record.ts). view.ts is not followed: a version's
 * view is in its archive too.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './build.ts';

/** version -> (path relative to the repo root -> sha256 hex) */
export type Released = Record<string, Record<string, string>>;

export const releasedFile = (root = ROOT): string => path.join(root, 'src/feed/released.json');

/** The module specifiers a source imports or re-exports (type imports included). */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^;]*?(?:\bfrom\s*)?['"]([^'"]+)['"]/gm)) specs.push(m[1]!);
  return specs;
}

/** The version's frozen sources: files in version folders it imports, sorted, relative to the root. */
export function sourcesOf(version: number, root = ROOT): string[] {
  const feed = path.join(root, 'src/feed');
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    if (!existsSync(file)) throw new Error(`${path.relative(root, file)} is imported but does not exist`);
    seen.add(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (target.startsWith(feed + path.sep) && path.basename(target) !== 'view.ts') visit(target);
    }
  };
  visit(path.join(feed, `v${version}`, 'index.ts'));
  const inFolder = new RegExp(`^src/feed/v\\d+/`);
  return [...seen]
    .map((f) => path.relative(root, f).split(path.sep).join('/'))
    .filter((f) => inFolder.test(f))
    .sort();
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function hashesOf(version: number, root = ROOT): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of sourcesOf(version, root)) out[file] = sha256(path.join(root, file));
  return out;
}

export function readReleased(root = ROOT): Released {
  const file = releasedFile(root);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Released) : {};
}
