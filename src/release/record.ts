/**
 * Release feed versions: `npm run release -- 3`. For each version it
 *
 *   1. freezes its sources: the SHA-256 of every file in a version folder it imports goes into
 *      src/feed/released.json (frozen.ts), and a test fails if one of them changes afterwards;
 *   2. archives its release: the bundle built from source now (server code and view, exactly what
 *      `molt build N` printed before) goes into releases/vN.json with its hash and the hashes of every
 *      source file that went in. From then on `molt push N`, `molt build N` and a server booted at N
 *      use the archive, so the release is the same bytes forever.
 *
 * A release is never overwritten: a version already archived is left as it is. A version whose frozen
 * sources changed since they were frozen is refused. Commit both files (releases/ and released.json).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Archive, BuildError, ROOT, archivePath, buildRelease, readArchive } from './build.ts';
import { hashesOf, readReleased, releasedFile, sha256 } from './frozen.ts';

export interface Recorded {
  version: number;
  hash: string;
  /** The archive, relative to the root. */
  archive: string;
  /** False when the version was already released (nothing was written). */
  wrote: boolean;
  /** Frozen source files. */
  frozen: number;
}

export async function recordRelease(version: number, root = ROOT): Promise<Recorded> {
  if (!Number.isInteger(version) || version < 1) throw new BuildError(`not a version: ${version}`);
  const released = readReleased(root);
  const archived = readArchive(version, root);
  const frozen = hashesOf(version, root);
  const name = path.relative(root, archivePath(version, root));
  if (archived) return { version, hash: archived.hash, archive: name, wrote: false, frozen: Object.keys(released[version] ?? {}).length };
  const before = released[version];
  if (before !== undefined) {
    // released before archives existed: archive it, provided its frozen sources are still those
    const changed = [...new Set([...Object.keys(before), ...Object.keys(frozen)])].filter((f) => before[f] !== frozen[f]);
    if (changed.length > 0) throw new BuildError(`v${version}'s frozen sources changed since it was released (${changed.join(', ')}): put them back; change a released version by writing the next one`);
  }
  const built = await buildRelease(version, root, { fromSource: true });
  const unwritten = placeholders(built.inputs, root);
  if (unwritten.length > 0)
    throw new BuildError(
      `v${version} is not finished: ${unwritten.map((u) => `${u.file} still has the placeholder molt new-version wrote for ${u.directions.join(' and ')}`).join('; ')}. ` +
        `Write ${unwritten.some((u) => u.directions.length > 1) ? 'them' : 'it'} (the comment at the top of the file says how; npm test fails until then) and release after: a release never changes. Nothing was written.`,
    );
  const inputs: Record<string, string> = {};
  for (const file of [...built.inputs, ...built.viewInputs].sort()) inputs[file] = sha256(path.join(root, file));
  const archive: Archive = { version, hash: built.hash, inputs, code: built.code, view: built.view };
  mkdirSync(path.dirname(archivePath(version, root)), { recursive: true });
  writeFileSync(archivePath(version, root), `${JSON.stringify(archive, null, 1)}\n`);
  if (readArchive(version, root)?.hash !== built.hash) throw new BuildError(`${name} did not read back as written`);
  if (before === undefined) {
    const next = { ...released, [version]: frozen };
    const sorted = Object.fromEntries(Object.entries(next).sort(([a], [b]) => Number(a) - Number(b)));
    writeFileSync(releasedFile(root), `${JSON.stringify(sorted, null, 2)}\n`);
  }
  return { version, hash: built.hash, archive: name, wrote: true, frozen: Object.keys(frozen).length };
}

/**
 * The migration steps among a release's sources whose up or down is still the placeholder that
 * `molt new-version` writes (`up: unwritten(...)`, src/cli/new-version.ts): run, it throws.
 */
export function placeholders(inputs: string[], root = ROOT): { file: string; directions: string[] }[] {
  const out: { file: string; directions: string[] }[] = [];
  for (const file of inputs) {
    if (!file.startsWith('migrations/')) continue;
    const source = readFileSync(path.join(root, file), 'utf8');
    if (!/^function unwritten</m.test(source)) continue;
    const directions = [...source.matchAll(/^\s*(up|down): unwritten\(/gm)].map((m) => m[1]!);
    if (directions.length > 0) out.push({ file, directions });
  }
  return out;
}

async function main(args: string[]): Promise<number> {
  if (args.length === 0) {
    console.error('usage: npm run release -- <version>...   (archive each version\'s release and freeze its sources)');
    return 2;
  }
  for (const arg of args) {
    if (!/^\d+$/.test(arg)) throw new BuildError(`not a version number: ${arg}`);
    const r = await recordRelease(Number(arg));
    console.log(
      r.wrote
        ? `released v${r.version}: ${r.archive}, release ${r.hash}; ${r.frozen} source files frozen in src/feed/released.json. Commit both.`
        : `v${r.version} is already released: ${r.archive}, release ${r.hash} (nothing written; a release never changes)`,
    );
  }
  return 0;
}

if (process.argv[1] !== undefined && existsSync(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`release: ${err instanceof BuildError ? err.message : ((err as Error)?.stack ?? String(err))}`);
      process.exitCode = 2;
    },
  );
}
