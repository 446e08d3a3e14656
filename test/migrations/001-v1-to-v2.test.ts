/**
 * Migration 1 -> 2 on the frozen fixtures of both versions, every path: up, down, and both round trips.
 * The fixtures are never regenerated: they are what v1 and v2 states really looked like.
 */
import { runDirection } from '../../src/feed/lib/run.ts';
import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import * as v1 from '../../src/feed/v1/index.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import v1Json from '../fixtures/v1.state.json' with { type: 'json' };
import v2Json from '../fixtures/v2.state.json' with { type: 'json' };
import { Driver } from '../feed/helpers.ts';

const mctx = { now: 1_750_000_000_000 };
// fresh deep-frozen copies, as the kernel hands a live state to a migration
const v1Fixture = (): v1.State => freeze(structuredClone(v1Json) as unknown as v1.State, true);
const v2Fixture = (): v2.State => freeze(structuredClone(v2Json) as unknown as v2.State, true);

describe('migration 1 -> 2', () => {
  it('is one reversible step from 1 to 2 with a one-line description', () => {
    expect(v1ToV2).toMatchObject({ from: 1, to: 2, describe: expect.stringMatching(/^[^\n]+$/) });
    expect(typeof v1ToV2.down).toBe('object');
  });

  it('turns the v1 fixture into a valid v2 state with every user and post, likes as ❤️, nothing dropped', () => {
    const before = v1Fixture();
    const { state, dropped } = runDirection(v1ToV2, 'up', before, mctx);
    expect(v2.validate(state)).toEqual([]);
    expect(dropped).toEqual({});
    const census = v1.census(before);
    expect(v2.census(state)).toEqual({ users: census.users, posts: census.posts, reactions: census.likes });
    // the same posts, as a v2 client sees them
    expect(v2.sample(state, 'p1')?.data).toMatchObject({ text: 'Hello, molt! First post.', reactions: { '❤️': ['u3', 'u2'] } });
    expect(v2.sample(state, 'p3')?.data).toMatchObject({ reactions: {} });
    expect(v2.sample(state, 'p4')).toBeNull();
    expect(v2.sample(state)?.id).toBe(v1.sample(before)?.id);
    expect(before).toEqual(v1Fixture()); // the input is untouched
  });

  it('lets v2 users keep working on the migrated state: like is ❤️, sessions still resume', () => {
    const d = new Driver<v2.State>(v2, freeze(runDirection(v1ToV2, 'up', v1Fixture(), mctx).state, true));
    expect(d.ok(null, { type: 'resume', token: 'fixture-token-1' }).user).toEqual({ id: 'u1', handle: 'alice' });
    const thread = d.ok('u1', { type: 'thread', post: 'p1' });
    expect(thread.post).toMatchObject({ reactions: { '❤️': 2 }, mine: [], replies: 2 });
    d.ok('u1', { type: 'react', post: 'p1', emoji: '🎉' });
    expect(v2.validate(d.state)).toEqual([]);
  });

  it('turns the v2 fixture into a valid v1 state, declaring the reactions it cannot keep', () => {
    const before = v2Fixture();
    const { state, dropped } = runDirection(v1ToV2, 'down', before, mctx);
    expect(v1.validate(state)).toEqual([]);
    const census = v2.census(before);
    const after = v1.census(state);
    expect({ users: after.users, posts: after.posts }).toEqual({ users: census.users, posts: census.posts });
    expect(dropped).toEqual({ reactions: census.reactions! - after.likes! });
    // p1 had 🎉 u2 u3 and ❤️ u2 u3: two likes; p2 had 😂 u1: one like; p4 had ❤️ u1 u2
    expect(v1.sample(state, 'p1')?.data).toMatchObject({ likes: ['u2', 'u3'] });
    expect(v1.sample(state, 'p2')?.data).toMatchObject({ likes: ['u1'] });
    expect(v1.sample(state, 'p4')?.data).toMatchObject({ likes: ['u1', 'u2'] });
    expect(dropped).toEqual({ reactions: 2 });
  });

  it('gives back exactly the v1 fixture after up then down', () => {
    const original = v1Fixture();
    const up = runDirection(v1ToV2, 'up', original, mctx);
    const back = runDirection(v1ToV2, 'down', freeze(up.state, true), mctx);
    expect(back.state).toEqual(original);
    expect(back.dropped).toEqual({});
  });

  it('gives back exactly a v2 state with only ❤️ reactions after down then up', () => {
    const d = new Driver<v2.State>(v2, v2Fixture());
    // drop every reaction other than ❤️ the way a user would
    d.ok('u2', { type: 'unreact', post: 'p1', emoji: '🎉' });
    d.ok('u3', { type: 'unreact', post: 'p1', emoji: '🎉' });
    d.ok('u1', { type: 'unreact', post: 'p2', emoji: '😂' });
    const hearts = d.state;
    const down = runDirection(v1ToV2, 'down', hearts, mctx);
    expect(down.dropped).toEqual({});
    expect(runDirection(v1ToV2, 'up', freeze(down.state, true), mctx).state).toEqual(hearts);
  });

  it('does not give back a v2 state with other emoji after down then up (they are declared dropped)', () => {
    const original = v2Fixture();
    const down = runDirection(v1ToV2, 'down', original, mctx);
    const again = runDirection(v1ToV2, 'up', freeze(down.state, true), mctx).state;
    expect(again).not.toEqual(original);
    expect(v2.census(original).reactions! - v2.census(again).reactions!).toBe(down.dropped!.reactions);
  });
});
