/**
 * Feed v2's browser view: likes became emoji reactions. A post shows one chip per emoji with a count
 * (pressed when I reacted) and a picker to add one. Loaded by already-open pages when v2 commits.
 */
import type { BasePost, FeedView, UserId, ViewApi, ViewEvent } from '../../../client/src/view-contract.ts';
import { card, h } from '../../../client/src/view-kit.ts';

export interface PostV2 extends BasePost {
  readonly reactions: Readonly<Record<string, number>>;
  readonly mine: readonly string[];
}

/** What the picker offers: v2's EMOJI (src/feed/v2/state.ts; test/client/views.test.ts keeps them
 *  equal), copied so the view bundle carries no feed code. ❤️ first: it is what a v1 like became. */
export const PICKER = ['❤️', '😂', '🎉', '😮', '😢', '👍'] as const;

/** The post whose picker is open. Module state, so a card re-rendered by someone else's reaction
 *  (the feed is live) keeps its picker open under the person's finger. */
let openFor: string | null = null;
let listening = false;

function closePickers(): void {
  openFor = null;
  for (const p of document.querySelectorAll<HTMLElement>('.picker')) p.hidden = true;
}

/** A click outside any reactions row, or Escape, closes the picker. Installed once per module. */
function listen(): void {
  if (listening) return;
  listening = true;
  document.addEventListener('click', (ev) => {
    if (openFor !== null && !(ev.target instanceof Element && ev.target.closest('.reactions'))) closePickers();
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && openFor !== null) closePickers();
  });
}

function toggle(post: PostV2, emoji: string, api: ViewApi): void {
  const on = post.mine.includes(emoji);
  void api.command(on ? 'unreact' : 'react', { post: post.id, emoji });
}

export function reactions(post: PostV2, api: ViewApi): HTMLElement {
  const chips = Object.entries(post.reactions)
    .filter(([, n]) => n > 0)
    .map(([emoji, n]) => {
      const pressed = post.mine.includes(emoji);
      return h(
        'button.chip',
        {
          type: 'button',
          'data-emoji': emoji,
          'aria-pressed': pressed ? 'true' : 'false',
          'aria-label': `${emoji} ${n}${pressed ? ', you reacted' : ''}`,
          disabled: api.me === null,
          onclick: () => toggle(post, emoji, api),
        },
        h('span.emoji', { 'aria-hidden': 'true' }, emoji),
        h('span.count', {}, String(n)),
      );
    });
  listen();
  const picker = h(
    'div.picker',
    { role: 'menu', hidden: openFor !== post.id },
    ...PICKER.map((emoji) =>
      h(
        'button.pick',
        {
          type: 'button',
          role: 'menuitem',
          'data-emoji': emoji,
          'aria-label': `React ${emoji}`,
          onclick: () => {
            closePickers();
            if (!post.mine.includes(emoji)) void api.command('react', { post: post.id, emoji });
          },
        },
        emoji,
      ),
    ),
  );
  const add = h(
    'button.chip.add',
    {
      type: 'button',
      title: 'Add a reaction',
      'aria-label': 'Add a reaction',
      'aria-haspopup': 'menu',
      'aria-expanded': openFor === post.id ? 'true' : 'false',
      disabled: api.me === null,
      onclick: () => {
        const open = openFor !== post.id;
        closePickers();
        openFor = open ? post.id : null;
        picker.hidden = !open;
      },
    },
    h('span.emoji', { 'aria-hidden': 'true' }, '☺'),
    h('span.plus', { 'aria-hidden': 'true' }, '+'),
  );
  return h('div.reactions', {}, ...chips, add, picker);
}

export function reduce(post: PostV2, event: ViewEvent, me: UserId | null): PostV2 | null {
  if (event.type !== 'react' || typeof event.reactions !== 'object' || event.reactions === null) return null;
  let mine = post.mine;
  if (event.by === me && typeof event.emoji === 'string') {
    const without = mine.filter((e) => e !== event.emoji);
    mine = event.on === false ? without : [...without, event.emoji];
  }
  return { ...post, reactions: event.reactions as Record<string, number>, mine };
}

export const css = `
.reactions { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; position: relative; margin-right: 6px; }
.chip { display: inline-flex; align-items: center; gap: 5px; height: 30px; padding: 0 10px; border-radius: 999px;
  border: 1px solid var(--line); background: var(--surface); color: var(--ink-2); font: inherit; font-size: 14px;
  cursor: pointer; transition: background .12s, border-color .12s, transform .12s; }
.chip:hover:not(:disabled) { border-color: var(--accent); }
.chip:active:not(:disabled) { transform: scale(.95); }
.chip:disabled { cursor: default; }
.chip .emoji { font-size: 15px; line-height: 1; }
.chip .count { font-variant-numeric: tabular-nums; font-weight: 600; }
.chip[aria-pressed="true"] { background: var(--accent-soft); border-color: var(--accent); color: var(--accent-ink); }
.chip.add { color: var(--ink-3); border-style: dashed; padding: 0 9px; }
.chip.add .plus { font-weight: 700; margin-left: -3px; }
.picker { position: absolute; z-index: 5; left: 0; top: calc(100% + 6px); display: grid; grid-template-columns: repeat(6, 38px);
  gap: 2px; padding: 6px; background: var(--surface); border: 1px solid var(--line); border-radius: 14px;
  box-shadow: 0 10px 30px rgb(20 20 40 / .16); }
.picker[hidden] { display: none; }
.pick { width: 38px; height: 38px; border: 0; border-radius: 10px; background: none; font-size: 20px; cursor: pointer; }
.pick:hover, .pick:focus-visible { background: var(--accent-soft); }
@media (max-width: 420px) { .picker { grid-template-columns: repeat(3, 42px); } .pick { width: 42px; height: 42px; } }
`;

const view: FeedView<PostV2> = {
  version: 2,
  label: 'reactions',
  css,
  renderPost: (post, api) => card(post, api, [reactions(post, api)]),
  reduce,
};

export default view;
