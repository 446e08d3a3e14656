import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { releaseHash } from '../kernel/release.ts';

/**
 * Build a release from a version folder: the folder's index.ts (the feed version) bundled with the
 * migrations that lead to it (the folder's own migrations.ts if it has one, else migrations/index.ts),
 * as one CommonJS-shaped script for the kernel's sandbox; and the folder's view.ts, if any, as an ES
 * module for the browser. The release is named by the SHA-256 of both.
 *
 * A released version is not built: its bundle was archived when it was released (releases/vN.json,
 * written by record.ts) and `buildRelease(N)` returns that archive, checked against its hash, so a
 * released version is the same bytes forever, whatever changes later in the code it was built from.
 *
 * esbuild does the bundling. `immer` stays external: the sandbox hands the release the kernel's own
 * immer. Anything else that is not relative feed code fails here, at build time, with esbuild's message.
 * Paths in the bundle are relative to the project root, so the bytes do not depend on the directory the
 * build runs from.
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface BuiltRelease {
  /** The folder it was built from. */
  dir: string;
  code: string;
  view: string | null;
  hash: string;
  /** Source files that went into the server bundle, relative to the project root. */
  inputs: string[];
  /** Source files that went into the view bundle. */
  viewInputs: string[];
  /** The archive it came from (releases/vN.json) when the version is released; null when built. */
  archived: string | null;
}

/** Where a released version's bundle is kept. */
export function archivePath(version: number, root = ROOT): string {
  return path.join(root, 'releases', `v${version}.json`);
}

/** What releases/vN.json holds: the release exactly as it was built when version N was released. */
export interface Archive {
  version: number;
  hash: string;
  /** Every source file of both bundles at release time, with its SHA-256 (for people, not checked). */
  inputs: Record<string, string>;
  code: string;
  view: string | null;
}

/** The archived release of version `version`, checked against its hash; null when it is not released. */
export function readArchive(version: number, root = ROOT): BuiltRelease | null {
  const file = archivePath(version, root);
  if (!existsSync(file)) return null;
  const name = path.relative(root, file);
  let a: Partial<Archive>;
  try {
    a = JSON.parse(readFileSync(file, 'utf8')) as Partial<Archive>;
  } catch (err) {
    throw new BuildError(`${name} is not a release archive: ${(err as Error).message}`);
  }
  if (a?.version !== version || typeof a.hash !== 'string' || typeof a.code !== 'string' || (a.view !== null && typeof a.view !== 'string'))
    throw new BuildError(`${name} is not the archive of v${version}: it needs version ${version}, hash, code and view`);
  const hash = releaseHash(a.code, a.view);
  if (hash !== a.hash)
    throw new BuildError(`${name} does not match its recorded hash (${a.hash.slice(0, 12)}; its content hashes to ${hash.slice(0, 12)}): a released version never changes, restore the file from git`);
  const inputs = Object.keys(a.inputs ?? {});
  return { dir: path.join(root, 'src/feed', `v${version}`), code: a.code, view: a.view, hash, inputs, viewInputs: [], archived: name };
}

export class BuildError extends Error {
  override name = 'BuildError';
}

/** `2` or "2" means src/feed/v2; anything else is a path to a version folder. */
export function resolveVersionDir(target: string | number, root = ROOT): string {
  const dir = /^\d+$/.test(String(target)) ? path.join(root, 'src/feed', `v${target}`) : path.resolve(String(target));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BuildError(`no version folder at ${path.relative(process.cwd(), dir) || dir}`);
  if (!existsSync(path.join(dir, 'index.ts'))) throw new BuildError(`${dir} has no index.ts: a version folder exports its feed version from index.ts`);
  return dir;
}

export interface BuildOptions {
  /** Build a released version from its sources instead of returning its archive (record.ts does). */
  fromSource?: boolean;
}

/** A release: version N's archive when N is released, else built from its folder (or any folder). */
export async function buildRelease(target: string | number, root = ROOT, options: BuildOptions = {}): Promise<BuiltRelease> {
  if (!options.fromSource && /^\d+$/.test(String(target))) {
    const archived = readArchive(Number(target), root);
    if (archived) return archived;
  }
  const dir = resolveVersionDir(target, root);
  const own = path.join(dir, 'migrations.ts');
  const migrations = existsSync(own) ? own : path.join(root, 'migrations/index.ts');
  const entry = [
    `import * as feed from ${JSON.stringify(path.join(dir, 'index.ts'))};`,
    `import { migrations as all } from ${JSON.stringify(migrations)};`,
    // A release carries the steps that lead to it, not those past it (the kernel checks that).
    `export const migrations = all.filter((m) => m.to <= feed.version);`,
    `export { feed };`,
  ].join('\n');
  let server: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    server = await esbuild.build({
      stdin: { contents: entry, resolveDir: dir, loader: 'ts', sourcefile: 'release-entry.ts' },
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      format: 'cjs',
      platform: 'neutral',
      target: 'es2022',
      external: ['immer'],
      banner: { js: '"use strict";' },
      charset: 'utf8',
      legalComments: 'none',
      logLevel: 'silent',
    });
  } catch (err) {
    throw new BuildError(`release from ${path.relative(root, dir)} does not build: ${formatEsbuild(err)}`);
  }
  const code = server.outputFiles[0]!.text;
  const viewEntry = path.join(dir, 'view.ts');
  let view: string | null = null;
  let viewInputs: string[] = [];
  if (existsSync(viewEntry)) {
    try {
      const out = await esbuild.build({
        entryPoints: [viewEntry],
        absWorkingDir: root,
        bundle: true,
        write: false,
        metafile: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        charset: 'utf8',
        legalComments: 'none',
        logLevel: 'silent',
      });
      view = out.outputFiles[0]!.text;
      viewInputs = Object.keys(out.metafile.inputs);
    } catch (err) {
      throw new BuildError(`view of ${path.relative(root, dir)} does not build: ${formatEsbuild(err)}`);
    }
  }
  const inputs = Object.keys(server.metafile.inputs).filter((f) => !f.startsWith('<stdin>') && path.basename(f) !== 'release-entry.ts');
  return { dir, code, view, hash: releaseHash(code, view), inputs, viewInputs, archived: null };
}

function formatEsbuild(err: unknown): string {
  const errors = (err as { errors?: esbuild.Message[] }).errors;
  if (!errors?.length) return String((err as Error)?.message ?? err);
  return errors
    .slice(0, 3)
    .map((e) => `${e.text}${e.location ? ` (${e.location.file}:${e.location.line})` : ''}`)
    .join('; ');
}
