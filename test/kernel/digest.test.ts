/**
 * The digests the two processes compare (src/kernel/migrate/digest.ts): of content, never identity,
 * independent of where slices end, and a difference named by the block it is in.
 */
import { describe, expect, it } from 'vitest';
import { BLOCK, Digests, compareCaught, digestOf } from '../../src/kernel/migrate/digest.ts';

const post = (i: number, text = `post ${i}`) => ({ id: `p${i}`, author: 'u1', text, at: 1_700_000_000_000 + i, replyTo: null, replies: [], reactions: i % 3 ? { '❤️': ['u2', 'u3'] } : {} });

function streamOf(entities: unknown[], slice: number): ReturnType<Digests['take']> {
  const d = new Digests();
  for (let i = 0; i < entities.length; i += slice)
    d.entities('0:posts', entities.slice(i, i + slice).map((_, j) => i + j), entities.slice(i, i + slice));
  return d.take();
}

describe('digests of what a migration built', () => {
  it('a copy digests as its original; where slices end does not matter', () => {
    const posts = Array.from({ length: 3000 }, (_, i) => post(i));
    const copy = JSON.parse(JSON.stringify(posts)) as unknown[];
    expect(streamOf(copy, 1024)).toEqual(streamOf(posts, 256));
    expect(streamOf(posts, 7)['0:posts']).toMatchObject({ n: 3000, h: expect.any(Array) });
    expect(streamOf(posts, 7)['0:posts']!.h).toHaveLength(Math.ceil(3000 / BLOCK));
  });

  it.each([
    ['one character of a text', (p: Record<string, unknown>) => ({ ...p, text: 'post 2042'.replace('4', '5') })],
    ['a number by one', (p: Record<string, unknown>) => ({ ...p, at: (p['at'] as number) + 1 })],
    ['a fraction', (p: Record<string, unknown>) => ({ ...p, at: (p['at'] as number) + 0.5 })],
    ['a string for a number', (p: Record<string, unknown>) => ({ ...p, at: String(p['at']) })],
    ['a key renamed', ({ text, ...p }: Record<string, unknown>) => ({ ...p, body: text })],
    ['two keys swapped in order', ({ id, author, ...p }: Record<string, unknown>) => ({ author, id, ...p })],
    ['an item moved between arrays', (p: Record<string, unknown>) => ({ ...p, replies: ['u2'], reactions: { '❤️': ['u3'] } })],
    ['null for an empty object', (p: Record<string, unknown>) => ({ ...p, reactions: null })],
  ])('one entity with %s differs, and the block it is in is named with its first key', (_what, change) => {
    const posts: unknown[] = Array.from({ length: 3000 }, (_, i) => post(i));
    const mine = new Digests();
    mine.entities('0:posts', posts.map((_, i) => i), posts);
    const ours = mine.take();
    posts[2042] = change(posts[2042] as Record<string, unknown>);
    const theirs = streamOf(posts, 500);
    expect(mine.differs(ours, theirs)).toEqual({ stream: '0:posts', block: 1, first: 1024, mine: 3000, theirs: 3000 });
    expect(mine.differs(ours, streamOf(Array.from({ length: 3000 }, (_, i) => post(i)), 100))).toBeNull();
  });

  it('an entity more or fewer, or a stream only one side has, differs', () => {
    const posts = Array.from({ length: 10 }, (_, i) => post(i));
    const d = new Digests();
    d.entities('0:posts', posts.map((_, i) => i), posts);
    const ours = d.take();
    expect(d.differs(ours, streamOf(posts.slice(0, 9), 4))).toMatchObject({ stream: '0:posts', mine: 10, theirs: 9 });
    expect(d.differs(ours, { ...streamOf(posts, 4), '0:users': { n: 1, h: [1] } })).toMatchObject({ stream: '0:users', mine: 0, theirs: 1 });
    // a removed entity (undefined, in a catch-up round) is not the same as a null one
    expect(digestOf([undefined])).not.toBe(digestOf([null]));
  });

  it('around the collections: content, with what the input held and the built collections as marks', () => {
    const input = { posts: { size: 1, root: [post(1)] }, users: { size: 2, root: ['a', 'b'] }, count: { posts: 1 } };
    const built = { size: 1, root: [{ ...post(1), v: 2 }] };
    const state = { posts: built, users: input.users, count: { posts: 1, reactions: 0 } };
    const copy = JSON.parse(JSON.stringify(input)) as typeof input;
    const digestAround = (s: unknown, i: unknown, b: object) => {
      const d = new Digests();
      d.around('state', s, i, new Map([[b, { label: '0:posts', base: (i as typeof input).posts, every: false }]]));
      return d.take()['state']!.h[0];
    };
    const builtCopy = JSON.parse(JSON.stringify(built)) as typeof built;
    // the rehearsal's copy of the same: the same digest
    expect(digestAround({ posts: builtCopy, users: copy.users, count: { posts: 1, reactions: 0 } }, copy, builtCopy)).toBe(digestAround(state, input, built));
    // a counter that differs, a field more: differ
    expect(digestAround({ ...state, count: { posts: 2, reactions: 0 } }, input, built)).not.toBe(digestAround(state, input, built));
    expect(digestAround({ ...state, extra: true }, input, built)).not.toBe(digestAround(state, input, built));
    // the input's users moved under another key: a mark of where they came from, not their content
    expect(digestAround({ ...state, users: undefined, people: input.users }, input, built)).not.toBe(digestAround(state, input, built));
  });

  it('a catch-up round: entity by entity; one only the rehearsal re-migrated is compared with what is held here', () => {
    const posts = Array.from({ length: 40 }, (_, i) => post(i));
    const live = new Digests();
    live.caught('0:posts caught up', [3, 7], [posts[3], undefined]);
    const mine = live.take();
    const there = (keys: number[], values: unknown[]) => {
      const d = new Digests();
      d.caught('0:posts caught up', keys, values);
      return d.take();
    };
    const held = (_stream: string, key: unknown) => posts[key as number];
    // the rehearsal's copy had a whole leaf set anew: it re-migrated more, and those equal what is held
    expect(compareCaught(mine, there([3, 7, 4, 5], [posts[3], undefined, posts[4], posts[5]]), held)).toBeNull();
    expect(compareCaught(mine, there([3, 7, 4], [posts[3], undefined, { ...posts[4], text: 'other' }]), held)).toEqual({ stream: '0:posts caught up', key: 4 });
    expect(compareCaught(mine, there([3, 7], [{ ...posts[3], at: 0 }, undefined]), held)).toEqual({ stream: '0:posts caught up', key: 3 });
    // one this process re-migrated that the rehearsal did not
    expect(compareCaught(mine, there([3], [posts[3]]), held)).toEqual({ stream: '0:posts caught up', key: 7 });
    // block streams are not its business, nor are caught streams differs()'
    expect(live.differs(mine, there([1], [posts[1]]))).toBeNull();
  });

  it('strings as UTF-8 carries them: a lone surrogate digests as U+FFFD, a pair as itself', () => {
    expect(digestOf({ text: 'cut short \uD83D' })).toBe(digestOf({ text: 'cut short \uFFFD' }));
    expect(digestOf({ text: 'ab\uDE00cd' })).toBe(digestOf({ text: 'ab\uFFFDcd' }));
    expect(digestOf({ text: 'smile \uD83D\uDE00' })).not.toBe(digestOf({ text: 'smile \uFFFD\uFFFD' }));
    expect(digestOf({ text: 'x\uD83D\uDE00y' })).not.toBe(digestOf({ text: 'x\uD83D\uDE01y' }));
  });
});
