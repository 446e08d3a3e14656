/**
 * The mirror keeps a copy of the live state in another process by sending a full sync once and then
 * only what changed. Here both ends run in one process, with the messages encoded as they are on the
 * wire: after any sequence of real feed commands the copy equals the live state, and a patch costs
 * the size of the change.
 */
import { describe, expect, it } from 'vitest';
import { Packr, Unpackr } from 'msgpackr';
import * as v1 from '../../src/feed/v1/index.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import { Builder, FullSync, apply, diff, type Patch } from '../../src/kernel/upgrade/mirror.ts';
import { buildV1 } from '../feed/build.ts';
import { vecChanged } from '../../src/feed/lib/collections.ts';
import { Driver } from '../feed/helpers.ts';

function wire() {
  const packr = new Packr({ useRecords: true, sequential: true, mapsAsObjects: true } as never);
  const unpackr = new Unpackr({ useRecords: true, sequential: true, mapsAsObjects: true, int64AsType: 'number' } as never);
  return (patches: Patch[]): Patch[] => unpackr.unpack(packr.pack(patches)) as Patch[];
}

function fullCopy(state: unknown, send: (p: Patch[]) => Patch[], budget = 50_000): unknown {
  const sync = new FullSync(state, 8 * 1024);
  const builder = new Builder();
  for (let batch = sync.next(budget); batch !== null; batch = sync.next(budget)) builder.add(send(batch));
  return builder.done();
}

describe('mirror', () => {
  it('copies a whole state in chunks, frozen, equal to the original', () => {
    const state = buildV1(5000, 100);
    const copy = fullCopy(state, wire());
    expect(copy).toEqual(state);
    expect(Object.isFrozen((copy as v1.State).posts.root)).toBe(true);
  });

  it('follows the live state through random commands with patches alone, across vector root splits', () => {
    const d = new Driver<v1.State>(v1, v1.init());
    const send = wire();
    let copy = fullCopy(d.state, send);
    let synced = d.state;
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const users = [d.join('first')];
    let posts: string[] = [];
    for (let round = 0; round < 160; round++) {
      for (let k = 0; k < 25; k++) {
        const r = rand(10);
        const me = users[rand(users.length)]!;
        if (r === 0) users.push(d.join(`user_${round}_${k}`));
        else if (r < 5 || posts.length === 0) posts.push(d.ok(me, { type: 'post', text: `post ${round}.${k}`, ...(posts.length && rand(4) === 0 ? { replyTo: posts[rand(posts.length)] } : {}) }).post.id);
        else if (r < 8) d.send(me, { type: rand(2) ? 'like' : 'unlike', post: posts[rand(posts.length)] });
        else {
          const target = posts[rand(posts.length)]!;
          const out = d.send(d.state.posts && v1.sample(d.state, target)?.data ? (v1.sample(d.state, target)!.data as { author: string }).author : me, { type: 'delete', post: target });
          if (!('error' in out)) posts = posts.filter((p) => p !== target);
        }
      }
      const patches = diff(synced, d.state);
      const was = copy;
      copy = apply(copy, send(patches));
      // every post that is a new object here is one in the copy too (a catch-up round finds changes by
      // identity); the copy may have more (a patch that sets a whole leaf, when the root splits)
      const renewed = new Set(vecChanged((was as v1.State).posts, (copy as v1.State).posts));
      for (const slot of vecChanged(synced.posts, d.state.posts)) expect(renewed.has(slot)).toBe(true);
      synced = d.state;
      expect(copy).toEqual(d.state);
      // and in the same order (toEqual does not look at key order; a digest does)
      expect(JSON.stringify(copy)).toBe(JSON.stringify(d.state));
    }
    expect(d.state.posts.size).toBeGreaterThan(1024); // the posts vector's root split twice
  });

  it('sends a like on a big state as a few small patches, not the state', () => {
    const d = new Driver<v1.State>(v1, buildV1(100_000, 1000));
    const before = d.state;
    d.ok('u1', { type: 'like', post: 'p2' });
    const patches = diff(before, d.state);
    const bytes = new Packr({ useRecords: false } as never).pack(patches).length;
    expect(bytes).toBeLessThan(500);
    expect(apply(before, patches)).toEqual(d.state);
  });

  it('sends a moved subtree as a reference to where it was (a vector root split)', () => {
    const d = new Driver<v1.State>(v1, buildV1(1024, 10));
    const before = d.state;
    d.ok('u1', { type: 'post', text: 'the 1025th' });
    const patches = diff(before, d.state);
    expect(patches.some((p) => p[0] === 3)).toBe(true);
    expect(new Packr({ useRecords: false } as never).pack(patches).length).toBeLessThan(2000);
    expect(apply(before, patches)).toEqual(d.state);
  });

  it('a post replaced by an equal one (a like taken back) is a new object in the copy too', () => {
    const d = new Driver<v1.State>(v1, buildV1(2000, 20));
    const send = wire();
    const copy0 = fullCopy(d.state, send) as v1.State;
    const live0 = d.state;
    const me = d.join('fickle');
    const s1 = d.state;
    const copy1 = apply(copy0, send(diff(live0, s1))) as v1.State;
    d.ok(me, { type: 'like', post: 'p7' });
    d.ok(me, { type: 'unlike', post: 'p7' });
    const patches = diff(s1, d.state);
    const copy2 = apply(copy1, send(patches)) as v1.State;
    expect(copy2).toEqual(d.state);
    // the post is equal to what it was, but a new object, on both sides: the same positions changed
    const live = vecChanged(s1.posts, d.state.posts);
    expect(live).toEqual([6]);
    expect(vecChanged(copy1.posts, copy2.posts)).toEqual(live);
    expect(patches.some((p) => p[0] === 4)).toBe(true);
  });

  it("keeps keys in the live node's order: a reaction taken back and given again goes last in both", () => {
    const d = new Driver<v2.State>(v2, v2.init());
    const send = wire();
    const [ann, bob] = [d.join('ann'), d.join('bob')];
    const post = d.ok(ann, { type: 'post', text: 'react to me' }).post.id as string;
    d.ok(ann, { type: 'react', post, emoji: '❤️' });
    d.ok(bob, { type: 'react', post, emoji: '😂' });
    const s1 = d.state;
    const copy1 = fullCopy(s1, send) as v2.State;
    // ❤️ goes (its last reactor takes it back) and comes again: now after 😂
    d.ok(ann, { type: 'unreact', post, emoji: '❤️' });
    d.ok(ann, { type: 'react', post, emoji: '❤️' });
    const copy2 = apply(copy1, send(diff(s1, d.state))) as v2.State;
    const reactions = (s: v2.State) => JSON.stringify(v2.sample(s, post)?.data);
    expect(reactions(d.state)).toContain('"😂":["u2"],"❤️":["u1"]');
    expect(reactions(copy2)).toBe(reactions(d.state));
    expect(JSON.stringify(copy2)).toBe(JSON.stringify(d.state));
  });
});
