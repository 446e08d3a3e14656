/**
 * `molt new-version`, run for real on a copy of this repository (never the checkout's own src/): it
 * starts v4 from the released v3, the placeholders it leaves make tsc and the property checks fail
 * with what to write, and once they are written (here, the identity) everything passes.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as v3 from '../../src/feed/v3/index.ts';
import { loadRelease } from '../../src/kernel/release.ts';
import { ROOT, buildRelease } from '../../src/release/build.ts';
import { RepoCopy } from '../support/repo-copy.ts';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command in the copy, with no trace of the vitest running this test in its environment. */
function run(cwd: string, file: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'));
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...clean, ...env, NO_COLOR: '1', FORCE_COLOR: '0' }, timeout: 240_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('molt new-version', () => {
  let copy: RepoCopy;
  const molt = (...args: string[]) => run(copy.root, process.execPath, [copy.at('bin/molt.js'), ...args]);
  const tsc = () => run(copy.root, copy.at('node_modules/.bin/tsc'), ['--noEmit', '-p', '.']);
  const vitest = (...args: string[]) => run(copy.root, process.execPath, [copy.at('node_modules/vitest/vitest.mjs'), 'run', '--reporter=verbose', ...args], { MOLT_FC_RUNS: '25' });
  const read = (file: string) => readFileSync(copy.at(file), 'utf8');
  let made: Ran;

  beforeAll(async () => {
    copy = new RepoCopy();
    // as if v3 had been released without its fixture: new-version writes it
    rmSync(copy.at('test/fixtures/v3.state.json'));
    made = await molt('new-version');
  }, 60_000);
  afterAll(() => copy?.remove());

  it('starts v4 from the released v3 and says what it made and what to do next', () => {
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    for (const file of ['src/feed/v4/index.ts', 'src/feed/v4/state.ts', 'src/feed/v4/shape.ts', 'src/feed/v4/view.ts', 'migrations/003-v3-to-v4.ts', 'migrations/index.ts', 'test/feed/v4.test.ts', 'docs/FEED.md', 'test/fixtures/v3.state.json'])
      expect(made.stdout).toContain(file);
    expect(made.stdout).toMatch(/^molt new-version: v4 started from v3\n/);
    expect(made.stdout).toMatch(/next\n {4}1\. [\s\S]*write up and down in migrations\/003-v3-to-v4\.ts[\s\S]*npm run release -- 4/);
  });

  it('writes a v4 that reuses v3 by import, a chain with the new step, a contract test and doc sections', () => {
    const index = read('src/feed/v4/index.ts');
    expect(index).toContain("import * as v3 from '../v3/index.ts';");
    expect(index).toContain('export const version = 4;');
    expect(read('src/feed/v4/view.ts')).toContain('{ ...v3, version: 4 }');
    expect(read('migrations/index.ts')).toMatch(/import \{ v3ToV4 \} from '\.\/003-v3-to-v4\.ts';[\s\S]*= \[v1ToV2, v2ToV3, v3ToV4\];/);
    expect(read('test/feed/v4.test.ts')).toContain("contractSuite({ feed: v4, kinds: ['users', 'posts', 'reactions', 'follows', 'notifications', 'edits']");
    expect(read('docs/FEED.md')).toMatch(/\n## Version 4\n[\s\S]*\n## Migration 3 -> 4 and back\n\n`migrations\/003-v3-to-v4\.ts`: not written yet/);
    // nothing of v3 or of the checkout was touched
    expect(read('src/feed/v3/index.ts')).toBe(readFileSync(path.join(ROOT, 'src/feed/v3/index.ts'), 'utf8'));
  });

  it("writes the missing fixture of v3's state, made by v3's own commands", () => {
    const state = JSON.parse(read('test/fixtures/v3.state.json'));
    expect(v3.validate(state)).toEqual([]);
    expect(v3.census(state)).toMatchObject({ users: 3, posts: 4, follows: 2, edits: 1, reactions: 3 }) // five posts, one deleted;
  });

  it('refuses to start v5 while v4 is not released, with exit status 2, writing nothing', async () => {
    const chain = read('migrations/index.ts');
    const again = await molt('new-version');
    expect(again).toMatchObject({ code: 2, stdout: '' });
    expect(again.stderr).toBe('molt: v4 exists and is not released yet: finish it (npm test says what is left) and release it (npm run release -- 4) before starting v5. Nothing was written.\n');
    expect(existsSync(copy.at('src/feed/v5'))).toBe(false);
    expect(read('migrations/index.ts')).toBe(chain);
  });

  it('leaves placeholders that fail tsc and the property checks, each saying what to write', async () => {
    const types = await tsc();
    expect(types.code).not.toBe(0);
    const errors = types.stdout.split('\n').filter((l) => /error TS/.test(l));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^migrations\/003-v3-to-v4\.ts\(\d+,\d+\): error TS2322: Type 'Unwritten<"write up: how a v3 state becomes a v4 state \(the comment at the top of this file says how\)">'/);
    expect(errors[1]).toMatch(/^migrations\/003-v3-to-v4\.ts\(\d+,\d+\): error TS2322: Type 'Unwritten<"write down: how a v4 state goes back to a v3 state, or delete it to make the step irreversible">'/);
    const tests = await vitest('test/migrations/properties.test.ts', '-t', '3->4');
    expect(tests.code).not.toBe(0);
    expect(tests.stdout).toContain('Got error: Write up in migrations/003-v3-to-v4.ts: how a v3 state becomes a v4 state. Map each entity that changes');
    expect(tests.stdout).toContain('Got error: Write down in migrations/003-v3-to-v4.ts: how a v4 state goes back to a v3 state');
    // every check of the new step fails, and nothing else
    const failed = tests.stdout.split('\n').filter((l) => l.includes('×'));
    expect(failed.length).toBeGreaterThanOrEqual(5);
    for (const line of failed) expect(line).toContain('migration 3->4');
    expect(tests.stdout).toMatch(new RegExp(`Tests +${failed.length} failed`));
  }, 180_000);

  it('cannot be released while its step holds the placeholders: npm run release refuses, naming them, writing nothing', async () => {
    const released = read('src/feed/released.json');
    const r = await run(copy.root, process.execPath, ['--import', 'tsx', 'src/release/record.ts', '4']);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'release: v4 is not finished: migrations/003-v3-to-v4.ts still has the placeholder molt new-version wrote for up and down. Write them (the comment at the top of the file says how; npm test fails until then) and release after: a release never changes. Nothing was written.\n',
    );
    expect(existsSync(copy.at('releases/v4.json'))).toBe(false);
    expect(read('src/feed/released.json')).toBe(released);
  }, 120_000);

  it('passes once up and down are written (the identity, declared lossless), and v4 builds into a release the kernel loads', async () => {
    const identity = "{ describe: 'Nothing changes for people', each: {}, finish: (state) => ({ state }) }";
    const step = read('migrations/003-v3-to-v4.ts')
      .replace(/^ {2}up: unwritten\(.*\),$/m, `  up: ${identity},`)
      .replace(/^ {2}down: unwritten\(.*\),$/m, `  down: ${identity},\n  lossless: true,`);
    expect(step).not.toMatch(/^ {2}(up|down): unwritten/m);
    writeFileSync(copy.at('migrations/003-v3-to-v4.ts'), step);
    const types = await tsc();
    expect(types.stdout).toBe('');
    expect(types.code).toBe(0);
    const tests = await vitest('test/migrations/properties.test.ts', 'test/feed/v4.test.ts', '-t', '3->4|v4');
    expect(tests.stdout).toMatch(/Tests +\d+ passed/);
    expect(tests.stdout).toContain('down(up(s)) is exactly s, nothing dropped (the step declares itself lossless)');
    expect(tests.code).toBe(0);
    const built = await buildRelease(4, copy.root);
    expect(built.archived).toBeNull();
    const release = loadRelease(built, 5000);
    expect(release.version).toBe(4);
    expect(release.migrations.map((m) => `${m.from}->${m.to}`)).toEqual(['1->2', '2->3', '3->4']);
    // written, it is released
    const released = await run(copy.root, process.execPath, ['--import', 'tsx', 'src/release/record.ts', '4']);
    expect(released.code, released.stdout + released.stderr).toBe(0);
    expect(released.stdout).toMatch(/^released v4: releases\/v4\.json/);
  }, 180_000);
});
