/**
 * Build big valid v1 states fast, with plain loops (no immer), then freeze once: for the scale test
 * and migration timings. Every 10th post is a reply to the top-level post before it, every 97th
 * is deleted, and post n is liked by (n mod 4) users. User n's session token is `session-<n - 1>`.
 */
import { freeze } from 'immer';
import { postId, userId } from '../../src/feed/v1/ids.ts';
import type { Post, State, User } from '../../src/feed/v1/state.ts';
import { toTrie } from '../../src/feed/v1/trie.ts';
import { toVec } from '../../src/feed/v1/vec.ts';

export function buildV1(postCount: number, userCount = 1000): State {
  const users: User[] = [];
  const handles: [string, string][] = [];
  const sessions: [string, string][] = [];
  for (let i = 0; i < userCount; i++) {
    const id = userId(i);
    users.push({ id, handle: `user_${i}`, joined: 1_600_000_000_000 + i });
    handles.push([`user_${i}`, id]);
    sessions.push([`session-${i}`, id]);
  }
  const posts: (Post | null)[] = [];
  const roots: number[] = [];
  let live = 0;
  let likes = 0;
  let lastRoot = -1;
  for (let i = 0; i < postCount; i++) {
    const id = postId(i);
    const isReply = i % 10 === 9 && lastRoot >= 0;
    const liked: string[] = [];
    for (let k = 0; k < i % 4; k++) liked.push(userId((i + k * 7) % userCount));
    posts.push({
      id,
      author: userId(i % userCount),
      text: `post number ${i}`,
      at: 1_600_000_000_000 + i * 1000,
      replyTo: isReply ? postId(lastRoot) : null,
      replies: [],
      likes: liked,
    });
    if (isReply) posts[lastRoot]!.replies.push(id);
    else {
      roots.push(i);
      lastRoot = i;
    }
  }
  // delete every 97th post (never a parent with replies, to keep the builder simple)
  for (let i = 50; i < postCount; i += 97) {
    const post = posts[i]!;
    if (post.replies.length > 0) continue;
    if (post.replyTo !== null) {
      const parent = posts[Number.parseInt(post.replyTo.slice(1), 36) - 1]!;
      parent.replies.splice(parent.replies.indexOf(post.id), 1);
    }
    posts[i] = null;
  }
  for (const post of posts) {
    if (post === null) continue;
    live++;
    likes += post.likes.length;
  }
  const state: State = {
    users: toVec(users),
    handles: toTrie(handles),
    sessions: toTrie(sessions),
    posts: toVec(posts),
    roots: toVec(roots),
    count: { users: userCount, posts: live, likes },
  };
  return freeze(state, true);
}
