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
  async build(version: number, migrations: string): Promise<ReleaseSource> {
    const folder = path.join(this.dir, `r${this.#n++}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'index.ts'), `export * from ${abs(`src/feed/v${version}/index.ts`)};\n`);
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
