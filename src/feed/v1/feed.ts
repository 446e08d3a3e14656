/**
 * Assemble a feed version from the shared parts and a version's own: its PostKind and its command
 * handlers. v1 (index.ts) and v2 (../v2/index.ts) are both built here.
 */
import { freeze } from 'immer';
import type { Command, Context, Outcome, Sample } from '../../contract.ts';
import { refuse } from './errors.ts';
import type { PostKind } from './kind.ts';
import { findPost, newestPost } from './posts.ts';
import type { Core, PostBase } from './state.ts';
import { emptyTrie } from './trie.ts';
import type { Handler } from './update.ts';
import { validateCore } from './validate.ts';
import { emptyVec } from './vec.ts';

export function createFeed<P extends PostBase, S extends Core<P>>(kind: PostKind<P>, handlers: Record<string, Handler<S>>) {
  function init(): S {
    const state: Core<P> = {
      users: emptyVec(),
      handles: emptyTrie(),
      sessions: emptyTrie(),
      posts: emptyVec(),
      roots: emptyVec(),
      count: { users: 0, posts: 0, [kind.counter]: 0 },
    };
    return freeze(state as S, true);
  }

  function handle(state: S, command: Command, ctx: Context): Outcome<S> {
    const type = command.type;
    if (!Object.hasOwn(handlers, type)) return refuse('unknown_command');
    return handlers[type]!(state, command, ctx);
  }

  function validate(state: S): readonly string[] {
    return validateCore(state, kind);
  }

  function census(state: S): Readonly<Record<string, number>> {
    const { users, posts } = state.count;
    return { users, posts, [kind.counter]: state.count[kind.counter]! };
  }

  function sample(state: S, id?: string): Sample | null {
    const post = id === undefined ? newestPost(state) : findPost(state, id);
    return post === undefined ? null : { kind: 'post', id: post.id, data: post };
  }

  return { init, handle, validate, census, sample };
}
