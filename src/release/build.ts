import { existsSync, statSync } from 'node:fs';
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
 * esbuild does the bundling. `immer` stays external: the sandbox hands the release the kernel's own
 * immer. Anything else that is not relative feed code fails here, at build time, with esbuild's message.
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

export async function buildRelease(target: string | number, root = ROOT): Promise<BuiltRelease> {
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
  if (existsSync(viewEntry)) {
    try {
      const out = await esbuild.build({
        entryPoints: [viewEntry],
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        charset: 'utf8',
        legalComments: 'none',
        logLevel: 'silent',
      });
      view = out.outputFiles[0]!.text;
    } catch (err) {
      throw new BuildError(`view of ${path.relative(root, dir)} does not build: ${formatEsbuild(err)}`);
    }
  }
  const inputs = Object.keys(server.metafile.inputs).filter((f) => !f.startsWith('<stdin>') && f !== 'release-entry.ts');
  return { dir, code, view, hash: releaseHash(code, view), inputs };
}

function formatEsbuild(err: unknown): string {
  const errors = (err as { errors?: esbuild.Message[] }).errors;
  if (!errors?.length) return String((err as Error)?.message ?? err);
  return errors
    .slice(0, 3)
    .map((e) => `${e.text}${e.location ? ` (${e.location.file}:${e.location.line})` : ''}`)
    .join('; ');
}
