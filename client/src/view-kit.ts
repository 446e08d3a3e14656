/**
 * Small DOM helpers shared by the shell and the views. Every view bundle carries its own copy, so keep
 * this file small and free of state.
 */
import type { BasePost, ViewApi } from './view-contract.ts';

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/** Create an element: h('button.like', {onclick, 'aria-pressed': true}, '♥ ', count). */
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (key === 'class') el.className += (el.className ? ' ' : '') + value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** "now", "5m", "3h", "2d", then a date. */
export function timeAgo(at: number, now: number = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 45) return 'now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const hours = Math.round(m / 60);
  if (hours < 24) return `${hours}h`;
  const d = Math.round(hours / 24);
  if (d < 7) return `${d}d`;
  return new Date(at).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** A stable hue per handle so avatars are told apart at a glance. */
export function hue(handle: string): number {
  let x = 0;
  for (const ch of handle) x = (x * 31 + ch.codePointAt(0)!) % 360;
  return x;
}

/**
 * The frame every version's card shares: avatar, handle, time, text, then a footer with the version's
 * own actions followed by reply, thread and delete. A view passes its actions; the rest is common.
 */
export function card(post: BasePost, api: ViewApi, actions: Node[]): HTMLElement {
  const mine = api.me !== null && api.me.id === post.author.id;
  const replies = post.replies;
  const threadLabel = api.threadOpen(post.id) ? 'Hide replies' : replies === 1 ? '1 reply' : `${replies} replies`;
  return h(
    'article.post',
    { 'data-post': post.id, class: mine ? 'mine' : null, 'aria-label': `Post by @${post.author.handle}` },
    h(
      'header.post-head',
      {},
      h('span.avatar', { style: `--hue:${hue(post.author.handle)}`, 'aria-hidden': 'true' }, initial(post.author.handle)),
      h('span.handle', {}, '@' + post.author.handle),
      h('span.dot', { 'aria-hidden': 'true' }, '·'),
      h('time', { 'data-at': post.at, datetime: new Date(post.at).toISOString(), title: new Date(post.at).toLocaleString() }, timeAgo(post.at)),
    ),
    h('p.post-text', {}, post.text),
    h(
      'footer.post-actions',
      {},
      ...actions,
      api.me ? h('button.act.reply', { type: 'button', onclick: () => api.reply(post.id) }, 'Reply') : null,
      replies > 0 || api.threadOpen(post.id)
        ? h('button.act.thread', { type: 'button', 'aria-expanded': api.threadOpen(post.id), onclick: () => api.toggleThread(post.id) }, threadLabel)
        : null,
      mine ? h('button.act.delete', { type: 'button', title: 'Delete this post', onclick: () => api.remove(post.id) }, 'Delete') : null,
    ),
  );
}

function initial(handle: string): string {
  return (handle.codePointAt(0) ? String.fromCodePoint(handle.codePointAt(0)!) : '?').toUpperCase();
}
