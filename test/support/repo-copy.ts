/**
 * A copy of this repository in a temp folder, for tests that change sources or run tools that write
 * them (molt new-version, a fix in the shared library): the checkout's own files are never touched.
 * Everything is copied but .git, node_modules (linked), .molt and test-artifacts.
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../../src/release/build.ts';

const SKIP = new Set(['.git', 'node_modules', '.molt', 'test-artifacts']);

export class RepoCopy {
  readonly root = mkdtempSync(path.join(tmpdir(), 'molt-repo-'));

  constructor() {
    cpSync(ROOT, this.root, { recursive: true, filter: (src) => !SKIP.has(path.basename(src)) || path.dirname(src) !== ROOT });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(this.root, 'node_modules'), 'dir');
  }

  /** A path inside the copy. */
  at(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
