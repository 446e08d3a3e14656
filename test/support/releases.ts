/**
 * Releases made on the fly for tests: a version folder in a temp dir whose index.ts re-exports a real
 * feed version and whose migrations.ts is the test's own, built by the real release builder.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ReleaseSource } from '../../src/kernel/release.ts';
import { ROOT, buildRelease } from '../../src/release/build.ts';

/** An absolute import of a project file, for code written into a temp folder. */
export const abs = (p: string) => JSON.stringify(path.join(ROOT, p));

export class TempReleases {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'molt-releases-'));
  #n = 0;

  /** Feed `version` (re-exported) with `migrations` as the source of migrations.ts. */
  build(version: number, migrations: string): Promise<ReleaseSource> {
    return this.buildFrom(version, `export * from ${abs(`src/feed/v${version}/index.ts`)};\n`, migrations);
  }

  /** A release whose index.ts and migrations.ts are these sources (`version` names the folder only). */
  async buildFrom(version: number, index: string, migrations: string): Promise<ReleaseSource> {
    const folder = path.join(this.dir, `r${this.#n++}-v${version}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'index.ts'), index);
    writeFileSync(path.join(folder, 'migrations.ts'), migrations);
    const built = await buildRelease(folder);
    return { code: built.code, view: built.view, hash: built.hash };
  }

  async real(version: number): Promise<ReleaseSource> {
    const built = await buildRelease(version);
    return { code: built.code, view: built.view, hash: built.hash };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A version folder to boot (`startServer({ boot })`): feed v1 as released, except that its handler
 * never returns on commands of `type`. For what a server and its clients do about a handler that keeps
 * running out its time.
 */
export function loopingVersion(type: string): { dir: string; remove(): void } {
  return slowVersion(type, 'true');
}

/**
 * The same, but its handler never returns only on the commands of `type` for which `when` (an
 * expression over the command `c`) is true: a handler slow for some input only.
 */
export function slowVersion(type: string, when: string): { dir: string; remove(): void } {
  return patchedVersion(`if (c.type === ${JSON.stringify(type)} && (${when})) for (;;) {}\n  return served(s, c, ctx);`);
}

/**
 * Feed v1 as released, but for its handler's body (TypeScript over the state `s`, the command `c` and
 * the context `ctx`; `served(s, c, ctx)` is v1's own handler): a previous release that does on some
 * writes what it never did live.
 */
export function patchedVersion(body: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'molt-patched-'));
  const v1 = abs('src/feed/v1/index.ts');
  writeFileSync(path.join(dir, 'index.ts'), `import { handle as served } from ${v1};\nexport * from ${v1};\nexport const handle: typeof served = (s, c, ctx) => {\n  ${body}\n};\n`);
  writeFileSync(path.join(dir, 'migrations.ts'), `export { migrations } from ${abs('migrations/index.ts')};\n`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
