import { describe, expect, it } from 'vitest';
import v1 from '../../src/feed/v1/view.ts';
import v2, { PICKER } from '../../src/feed/v2/view.ts';
import { EMOJI } from '../../src/feed/v2/state.ts';

const base = { id: 'p1', author: { id: 'u1', handle: 'bob' }, text: 'hi', at: 0, replyTo: null, replies: 0 };

describe('v1 view', () => {
  it('takes the like count from the event and my own mark only from my own like', () => {
    const post = { ...base, likes: 0, liked: false };
    expect(v1.reduce(post, { type: 'like', post: 'p1', likes: 1, by: 'u2', on: true }, 'u0')).toMatchObject({ likes: 1, liked: false });
    expect(v1.reduce(post, { type: 'like', post: 'p1', likes: 1, by: 'u0', on: true }, 'u0')).toMatchObject({ likes: 1, liked: true });
    expect(v1.reduce({ ...post, likes: 1, liked: true }, { type: 'like', post: 'p1', likes: 0, by: 'u0', on: false }, 'u0')).toMatchObject({ likes: 0, liked: false });
  });

  it('ignores events that are not likes', () => {
    expect(v1.reduce({ ...base, likes: 0, liked: false }, { type: 'react', post: 'p1' }, 'u0')).toBeNull();
    expect(v1.version).toBe(1);
  });
});

describe('v2 view', () => {
  const post = { ...base, reactions: { '❤️': 1 }, mine: [] as string[] };

  it('takes the counts from the event and updates my reactions only from my own', () => {
    const counts = { '❤️': 1, '🎉': 1 };
    expect(v2.reduce(post, { type: 'react', post: 'p1', reactions: counts, by: 'u2', emoji: '🎉', on: true }, 'u0')).toMatchObject({ reactions: counts, mine: [] });
    const mine = v2.reduce(post, { type: 'react', post: 'p1', reactions: counts, by: 'u0', emoji: '🎉', on: true }, 'u0');
    expect(mine!.mine).toEqual(['🎉']);
    expect(v2.reduce(mine!, { type: 'react', post: 'p1', reactions: { '❤️': 1 }, by: 'u0', emoji: '🎉', on: false }, 'u0')!.mine).toEqual([]);
  });

  it('ignores v1 like events', () => {
    expect(v2.reduce(post, { type: 'like', post: 'p1', likes: 2 }, 'u0')).toBeNull();
  });

  it("offers exactly the emoji feed v2 accepts", () => {
    expect([...PICKER]).toEqual([...EMOJI]);
    expect(v2.version).toBe(2);
  });
});
