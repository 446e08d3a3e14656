/**
 * Migration 2 -> 3 on the frozen fixtures of both versions, both ways, and its entity functions alone
 * (the online kernel will call them one entity at a time).
 */
import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import { v2ToV3 } from '../../migrations/002-v2-to-v3.ts';
import { direction, runDirection } from '../../src/feed/lib/run.ts';
import type { FeedVersion } from '../../src/contract.ts';
import { Runner, directionOf } from '../../src/kernel/migrate/runner.ts';
import { seed } from '../../src/seed.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import * as v3 from '../../src/feed/v3/index.ts';
import v2Json from '../fixtures/v2.state.json' with { type: 'json' };
import v3Json from '../fixtures/v3.state.json' with { type: 'json' };
import { Driver } from '../feed/helpers.ts';

const mctx = { now: 1_750_000_000_000 };
const v2Fixture = (): v2.State => freeze(structuredClone(v2Json) as unknown as v2.State, true);
const v3Fixture = (): v3.State => freeze(structuredClone(v3Json) as unknown as v3.State, true);
const up = direction(v2ToV3, 'up')!;
const down = direction(v2ToV3, 'down')!;
const run = {
  up: (state: v2.State) => runDirection(v2ToV3, 'up', state, mctx) as { state: v3.State; dropped: Record<string, number> },
  down: (state: v3.State) => runDirection(v2ToV3, 'down', state, mctx) as { state: v2.State; dropped: Record<string, number> },
};
const stepCtx = () => {
  const drops: Record<string, number> = {};
  return { now: 0, drops, drop: (k: string, n: number) => void (drops[k] = (drops[k] ?? 0) + n) };
};

describe('migration 2 -> 3', () => {
  it('is one reversible step whose directions each say in one sentence what changes for people', () => {
    expect(v2ToV3).toMatchObject({ from: 2, to: 3 });
    for (const dir of [up, down]) expect(dir.describe).toMatch(/^[A-Z][^\n.]+$/);
    expect(v2ToV3.describe).toMatch(/^[^\n]+$/);
  });

  it('declares every field it adds and removes, and the kinds it creates and removes', () => {
    expect(up.changes).toEqual({
      users: { add: ['name', 'bio', 'followers', 'following', 'inbox'] },
      posts: { add: ['edits'] },
      follows: { creates: true },
      notifications: { creates: true },
    });
    const user = v2Fixture().users.root[0] as v2.User;
    const grown = up.each!.users!(user, stepCtx()) as Record<string, unknown>;
    expect(Object.keys(grown).filter((k) => !(k in user))).toEqual(up.changes!.users!.add);
    const back = down.each!.users!(grown, stepCtx()) as Record<string, unknown>;
    expect(Object.keys(grown).filter((k) => !(k in back))).toEqual(down.changes!.users!.remove);
    expect(back).toEqual(user);
  });

  it('maps one entity at a time, purely, and declares the edits a post loses going down', () => {
    const post = (v2Fixture().posts.root as (v2.Post | null)[]).find((p) => p !== null)!;
    const ctx = stepCtx();
    expect(up.each!.posts!(post, ctx)).toEqual({ ...post, edits: [] });
    expect(up.each!.posts!(post, ctx)).toEqual(up.each!.posts!(post, ctx));
    expect(ctx.drops).toEqual({});
    const edited = { ...post, edits: [{ text: 'first', at: 1 }, { text: 'second', at: 2 }] };
    expect(down.each!.posts!(edited, ctx)).toEqual(post);
    expect(ctx.drops).toEqual({ edits: 2 });
  });

  it('turns the v2 fixture into a valid v3 state: same people, posts and reactions, empty follows and notifications', () => {
    const before = v2Fixture();
    const { state, dropped } = run.up(before);
    expect(v3.validate(state)).toEqual([]);
    expect(dropped).toEqual({});
    expect(v3.census(state)).toEqual({ ...v2.census(before), follows: 0, notifications: 0, edits: 0 });
    expect(v3.sample(state, 'p1')?.data).toEqual({ ...(v2.sample(before, 'p1')!.data as object), edits: [] });
    expect(state.handles).toBe(before.handles);
    expect(state.sessions).toBe(before.sessions);
    expect(state.roots).toBe(before.roots);
    expect(before).toEqual(v2Fixture());
  });

  it('lets people go on in v3 on the migrated state: sessions resume, follows and notifications work', () => {
    const d = new Driver<v3.State>(v3, freeze(run.up(v2Fixture()).state, true));
    expect(d.ok(null, { type: 'resume', token: 'fixture-token-1' }).user).toEqual({ id: 'u1', handle: 'alice', name: 'alice' });
    d.ok('u2', { type: 'follow', user: 'u1' });
    d.ok('u2', { type: 'post', text: 'hi @alice' });
    expect(d.ok('u1', { type: 'notifications' }).unread).toBe(2);
    expect(v3.validate(d.state)).toEqual([]);
  });

  it('turns the v3 fixture into a valid v2 state, declaring the follows, notifications and edits it drops', () => {
    const before = v3Fixture();
    const { state, dropped } = run.down(before);
    expect(v2.validate(state)).toEqual([]);
    const census = v3.census(before);
    expect(dropped).toEqual({ follows: census.follows, notifications: census.notifications, edits: census.edits });
    expect(dropped).toEqual({ follows: 3, notifications: 10, edits: 2 });
    expect(v2.census(state)).toEqual({ users: census.users, posts: census.posts, reactions: census.reactions });
    // the current text of an edited post stays
    expect(v2.sample(state, 'p1')?.data).toMatchObject({ text: 'v3 is live! Say hi to @bob and @Carol #molt #v3' });
  });

  it('gives back exactly the v2 fixture after up then down', () => {
    const original = v2Fixture();
    const back = run.down(freeze(run.up(original).state, true));
    expect(back.state).toEqual(original);
    expect(back.dropped).toEqual({ follows: 0, notifications: 0 });
  });

  it('gives back the v3 fixture after down then up, less exactly what down declared dropped', () => {
    const original = v3Fixture();
    const back = run.down(original);
    const again = run.up(freeze(back.state, true)).state;
    expect(v3.validate(again)).toEqual([]);
    for (const kind of ['follows', 'notifications', 'edits'] as const) expect(v3.census(original)[kind]! - v3.census(again)[kind]!).toBe(back.dropped[kind]);
    expect(v3.census(again)).toMatchObject({ users: 3, posts: 4, reactions: 2 });
  });
});

describe('migration 2 -> 3 in the kernel runner', () => {
  const runner = (dir: 'up' | 'down', state: unknown) => {
    const [source, target] = dir === 'up' ? [v2ToV3.shapes!.from, v2ToV3.shapes!.to] : [v2ToV3.shapes!.to, v2ToV3.shapes!.from];
    return new Runner(directionOf(v2ToV3, dir), source, target, state, mctx, '2->3');
  };
  const finish = (r: Runner) => {
    const { out, dropped } = r.result(mctx.now);
    return { state: (out as { state: unknown }).state, dropped: { ...dropped, ...((out as { dropped?: Record<string, number> }).dropped ?? {}) } };
  };

  it('gives the whole run in slices, and catches up with people joining, posting and reacting meanwhile', () => {
    const d = new Driver<v2.State>(v2, seed(v2 as FeedVersion<v2.State>, { posts: 3000, users: 40, now: mctx.now }).state);
    const r = runner('up', d.state);
    r.slice(500);
    const me = d.join('latecomer');
    d.ok(me, { type: 'react', post: 'p1', emoji: '🎉' });
    d.ok(me, { type: 'post', text: 'written during the migration' });
    while (r.slice(500) > 0);
    expect(r.catchUp(d.state)).toBeGreaterThanOrEqual(3);
    const caught = finish(r);
    expect(caught).toEqual(runDirection(v2ToV3, 'up', d.state, mctx));
    expect(v3.validate(freeze(caught.state as v3.State, true))).toEqual([]);
  });

  it('keeps the edits it drops exact when a post is edited again during the way down', () => {
    const d = new Driver<v3.State>(v3, seed(v3 as FeedVersion<v3.State>, { posts: 500, users: 10, now: mctx.now }).state);
    const author = (d.ok(null, { type: 'context', post: 'p1' }).post.author.id) as string;
    d.ok(author, { type: 'edit', post: 'p1', text: 'edited once' }, { now: mctx.now });
    const r = runner('down', d.state);
    while (r.slice(100) > 0);
    expect(finish(r).dropped).toMatchObject({ edits: 1 });
    d.ok(author, { type: 'edit', post: 'p1', text: 'edited twice' }, { now: mctx.now });
    r.catchUp(d.state);
    const caught = finish(r);
    expect(caught).toEqual(runDirection(v2ToV3, 'down', d.state, mctx));
    expect(caught.dropped).toMatchObject({ edits: 2, follows: v3.census(d.state).follows, notifications: v3.census(d.state).notifications });
    expect(v2.validate(freeze(caught.state as v2.State, true))).toEqual([]);
  });
});
