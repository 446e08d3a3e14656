/**
 * The deliberately broken releases in examples/ are broken in exactly the advertised way (so the
 * kernel's tests and the demo exercise the failure they mean to). broken-loops is not run: it never ends.
 */
import { runDirection } from '../../src/feed/lib/run.ts';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import * as v1 from '../../src/feed/v1/index.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import { migrations as throws } from '../../examples/broken-throws/migrations.ts';
import { migrations as invalid } from '../../examples/broken-invalid/migrations.ts';
import { migrations as losesPosts } from '../../examples/broken-loses-posts/migrations.ts';
import { migrations as loops } from '../../examples/broken-loops/migrations.ts';
import * as throwsFeed from '../../examples/broken-throws/index.ts';
import v1Json from '../fixtures/v1.state.json' with { type: 'json' };

const fixture = (): v1.State => freeze(structuredClone(v1Json) as unknown as v1.State, true);
const mctx = { now: 0 };

describe('examples/broken-*', () => {
  it.each([
    ['broken-throws', throws],
    ['broken-invalid', invalid],
    ['broken-loses-posts', losesPosts],
    ['broken-loops', loops],
  ])('%s is a version 2 release with a 1 -> 2 chain and a one-line README', (name, chain) => {
    expect(chain.map((m) => [m.from, m.to])).toEqual([[1, 2]]);
    const readme = readFileSync(new URL(`../../examples/${name}/README.md`, import.meta.url), 'utf8');
    expect(readme.trim().split('\n')).toHaveLength(1);
    expect(existsSync(new URL(`../../examples/${name}/index.ts`, import.meta.url))).toBe(true);
  });

  it('serves feed version 2 unchanged', () => {
    expect(throwsFeed.version).toBe(2);
    expect(throwsFeed.handle).toBe(v2.handle);
  });

  it('broken-throws throws halfway through the posts', () => {
    expect(() => runDirection(throws[0]!, 'up', fixture(), mctx)).toThrow(/halfway/);
    expect(() => runDirection(throws[0]!, 'up', v1.init(), mctx)).toThrow(/halfway/);
  });

  it("broken-invalid produces a state v2's validate() rejects", () => {
    const problems = v2.validate(runDirection(invalid[0]!, 'up', fixture(), mctx).state);
    expect(problems.join('\n')).toMatch(/by unknown user u999999999/);
    expect(v2.validate(runDirection(invalid[0]!, 'up', v1.init(), mctx).state).join('\n')).toMatch(/count: reactions/);
  });

  it('broken-loses-posts produces a valid state with one post fewer and declares nothing dropped', () => {
    const before = fixture();
    const { state, dropped } = runDirection(losesPosts[0]!, 'up', before, mctx);
    expect(v2.validate(state)).toEqual([]);
    expect(dropped).toBeUndefined();
    expect(v2.census(state).posts).toBe(v1.census(before).posts! - 1);
  });
});
