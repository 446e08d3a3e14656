/**
 * A released feed version is frozen twice over:
 *
 *  - its release is archived (releases/vN.json): the exact bundle, code and view, with its hash. A
 *    state migrated to it, or a rollback to it, runs those bytes, whatever changes later in the code it
 *    was built from (the shared library src/feed/lib, migrations/, the client's view kit);
 *  - its own sources are frozen (src/feed/released.json): the files in version folders it imports,
 *    which say what it is and which later versions import. Change a released version by writing the
 *    next one.
 *
 * `npm run release -- N` (src/release/record.ts) does both; ART.md, "Releasing a version", says why.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRelease, releaseHash } from '../../src/kernel/release.ts';
import { BuildError, ROOT, archivePath, buildRelease, readArchive } from '../../src/release/build.ts';
import { hashesOf, importsOf, readReleased, sourcesOf } from '../../src/release/frozen.ts';
import { recordRelease } from '../../src/release/record.ts';
import { RepoCopy } from '../support/repo-copy.ts';

const run = promisify(execFile);
const released = readReleased();
const versions = Object.keys(released).map(Number);

describe('released feed versions', () => {
  it('are v1, v2 and v3, each with its archive, and nothing else is archived', () => {
    expect(versions).toEqual(expect.arrayContaining([1, 2, 3]));
    const archives = readdirSync(path.join(ROOT, 'releases')).filter((f) => f.endsWith('.json'));
    expect(archives.sort()).toEqual(versions.map((v) => `v${v}.json`).sort());
  });

  it.each(versions)('v%s: no frozen source changed, appeared or went since release', (version) => {
    expect(hashesOf(version)).toEqual(released[version]);
  });

  it.each(versions)('v%s: the archive matches its recorded hash and loads in the kernel as that version', (version) => {
    const archive = JSON.parse(readFileSync(archivePath(version), 'utf8'));
    expect(releaseHash(archive.code, archive.view)).toBe(archive.hash);
    const loaded = loadRelease({ code: archive.code, view: archive.view, hash: archive.hash }, 5000);
    expect(loaded.version).toBe(version);
    expect(loaded.feed.validate(loaded.feed.init())).toEqual([]);
    expect(loaded.migrations.map((m) => `${m.from}->${m.to}`)).toEqual(Array.from({ length: version - 1 }, (_, i) => `${i + 1}->${i + 2}`));
  });

  it.each(versions)('v%s: building it gives the archive, byte for byte, from any directory', async (version) => {
    const archive = JSON.parse(readFileSync(archivePath(version), 'utf8'));
    const built = await buildRelease(version);
    expect(built).toMatchObject({ hash: archive.hash, archived: `releases/v${version}.json` });
    expect(built.code).toBe(archive.code);
    expect(built.view).toBe(archive.view);
  });

  it('follow type imports, re-exports and multi-line imports, but not view.ts, and freeze only version folders', () => {
    const specs = importsOf(
      `import type { A } from '../../contract.ts';\nimport {\n  b,\n  c,\n} from './b.ts';\nexport * from "./c.ts";\nexport { d } from './d.ts';\nimport './e.ts';\nconst s = "from './nope.ts'";`,
    );
    expect(specs).toEqual(['../../contract.ts', './b.ts', './c.ts', './d.ts', './e.ts']);
    expect(sourcesOf(2)).toEqual(expect.arrayContaining(['src/feed/v2/index.ts', 'src/feed/v1/posts.ts']));
    expect(sourcesOf(1).some((f) => f.endsWith('view.ts'))).toBe(false);
    expect(sourcesOf(1).every((f) => f.startsWith('src/feed/v1/'))).toBe(true);
    // v3 uses the shared library (and v1's vector through it), which is followed but not frozen
    expect(sourcesOf(3)).toEqual(expect.arrayContaining(['src/feed/v3/index.ts', 'src/feed/v1/vec.ts']));
    expect(sourcesOf(3).filter((f) => !/^src\/feed\/v\d+\//.test(f))).toEqual([]);
  });
});

describe('the shared library changes; a released version does not', () => {
  const copy = new RepoCopy();
  afterAll(() => copy.remove());

  it('a fix in src/feed/lib reaches a build from source and leaves the released v3 as it was', async () => {
    const archived = await buildRelease(3, copy.root);
    expect(archived.archived).toBe('releases/v3.json');
    const before = await buildRelease(3, copy.root, { fromSource: true });
    expect(before.code).not.toContain('TAG_MAX = 60');
    const rich = copy.at('src/feed/lib/rich.ts');
    writeFileSync(rich, readFileSync(rich, 'utf8').replace('export const TAG_MAX = 50;', 'export const TAG_MAX = 60;'));
    const after = await buildRelease(3, copy.root, { fromSource: true });
    expect(after.hash).not.toBe(before.hash);
    expect(after.code).toContain('TAG_MAX = 60');
    const released3 = await buildRelease(3, copy.root);
    expect(released3.hash).toBe(archived.hash);
    expect(released3.code).not.toContain('TAG_MAX = 60');
    // and v3's frozen sources still hold: the library is not among them
    expect(hashesOf(3, copy.root)).toEqual(released[3]);
  }, 60_000);

  it('an archive changed after release is refused, saying so', async () => {
    const file = copy.at('releases/v2.json');
    const archive = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...archive, code: archive.code.replace('"use strict";', '"use strict";globalThis.x=1;') }));
    expect(() => readArchive(2, copy.root)).toThrow(BuildError);
    await expect(buildRelease(2, copy.root)).rejects.toThrow(/releases\/v2.json does not match its recorded hash \([0-9a-f]{12}; its content hashes to [0-9a-f]{12}\): a released version never changes/);
  });

  it('releasing is done once: a released version is never written again, and a version whose frozen sources changed is refused', async () => {
    const again = await recordRelease(3, copy.root);
    expect(again).toMatchObject({ version: 3, wrote: false, hash: JSON.parse(readFileSync(archivePath(3), 'utf8')).hash });
    // v1 as if released before archives existed, with a frozen file changed since
    const v1 = copy.at('releases/v1.json');
    rmSync(v1);
    const users = copy.at('src/feed/v1/users.ts');
    writeFileSync(users, `${readFileSync(users, 'utf8')}\n// changed\n`);
    await expect(recordRelease(1, copy.root)).rejects.toThrow(/v1's frozen sources changed since it was released \(src\/feed\/v1\/users.ts\)/);
  });

  it('molt build N prints the released archive; a folder is built from source', async () => {
    const cli = (args: string[]) => run(process.execPath, [path.join(ROOT, 'bin/molt.js'), ...args], { cwd: tmpdir() });
    const { stdout } = await cli(['build', '3', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ hash: JSON.parse(readFileSync(archivePath(3), 'utf8')).hash, archived: 'releases/v3.json' });
    const folder = JSON.parse((await cli(['build', path.join(ROOT, 'src/feed/v3'), '--json'])).stdout);
    expect(folder.archived).toBeNull();
  }, 60_000);
});
