/**
 * A released feed version is frozen: a state migrated to it, or a rollback to it, relies on its code
 * being exactly what was released. src/feed/released.json holds the SHA-256 of each released version's
 * sources; change a released version by writing the next version (which may import the old code).
 */
import { describe, expect, it } from 'vitest';
import { hashesOf, importsOf, readReleased, sourcesOf } from './release-hashes.ts';

const released = readReleased();

describe('released feed versions', () => {
  it('include v1 and v2', () => {
    expect(Object.keys(released)).toEqual(expect.arrayContaining(['1', '2']));
  });

  it.each(Object.keys(released))('v%s: no source file changed, appeared or went since release', (version) => {
    expect(hashesOf(Number(version))).toEqual(released[version]);
  });

  it('follow type imports, re-exports and multi-line imports, but not view.ts', () => {
    const specs = importsOf(
      `import type { A } from '../../contract.ts';\nimport {\n  b,\n  c,\n} from './b.ts';\nexport * from "./c.ts";\nexport { d } from './d.ts';\nimport './e.ts';\nconst s = "from './nope.ts'";`,
    );
    expect(specs).toEqual(['../../contract.ts', './b.ts', './c.ts', './d.ts', './e.ts']);
    expect(sourcesOf(2)).toEqual(expect.arrayContaining(['src/feed/v2/index.ts', 'src/feed/v1/posts.ts']));
    expect(sourcesOf(1).some((f) => f.endsWith('view.ts'))).toBe(false);
    expect(sourcesOf(1).every((f) => f.startsWith('src/feed/v1/'))).toBe(true);
  });
});
