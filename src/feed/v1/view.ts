/**
 * Feed v1's browser view: a post has a ♥ button with a like count. Bundled per release and loaded by
 * the page with import(); see client/src/view-contract.ts for the contract.
 */
import type { BasePost, FeedView, UserId, ViewApi, ViewEvent } from '../../../client/src/view-contract.ts';
import { card, h } from '../../../client/src/view-kit.ts';

export interface PostV1 extends BasePost {
  readonly likes: number;
  readonly liked: boolean;
}

export function likeButton(post: PostV1, api: ViewApi): HTMLElement {
  const label = post.liked ? 'Unlike' : 'Like';
  return h(
    'button.act.like',
    {
      type: 'button',
      'aria-pressed': post.liked ? 'true' : 'false',
      'aria-label': `${label} (${post.likes})`,
      title: label,
      disabled: api.me === null,
      onclick: (ev) => {
        (ev.currentTarget as HTMLButtonElement).disabled = true;
        void api.command(post.liked ? 'unlike' : 'like', { post: post.id });
      },
    },
    h('span.heart', { 'aria-hidden': 'true' }, post.liked ? '♥' : '♡'),
    h('span.count', {}, String(post.likes)),
  );
}

export function reduce(post: PostV1, event: ViewEvent, me: UserId | null): PostV1 | null {
  if (event.type !== 'like' || typeof event.likes !== 'number') return null;
  const liked = event.by === me && typeof event.on === 'boolean' ? event.on : post.liked;
  return { ...post, likes: event.likes, liked };
}

export const css = `
.act.like .heart { font-size: 1.05em; line-height: 1; }
.act.like[aria-pressed="true"] { color: var(--love); background: var(--love-soft); }
.act.like[aria-pressed="true"] .heart { transform: scale(1.1); }
`;

const view: FeedView<PostV1> = {
  version: 1,
  label: 'likes',
  css,
  renderPost: (post, api) => card(post, api, [likeButton(post, api)]),
  reduce,
};

export default view;
