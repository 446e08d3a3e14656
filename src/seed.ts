/**
 * A feed of N posts built through the feed's own code: every user, post, reply, reaction and follow is
 * a command given to the version's handle(), as if people had sent them, so the state is one the
 * version itself made (and validate() agrees). Deterministic: the same options give the same feed.
 * Used by `npm run demo -- --posts N` and callable from the bench.
 *
 *   const { state } = seed(v3, { posts: 1_000_000 });
 *
 * No kernel and no sockets: handle() is called directly, so a million posts take seconds, not the
 * minutes a million round trips would.
 */
import type { Command, Context, FeedVersion } from './contract.ts';

export interface SeedOptions {
  /** How many posts (replies included). */
  posts: number;
  /** How many people write them. Default: one per 100 posts, at least 10, at most 10,000. */
  users?: number;
  /** The time of the last post, in ms; posts are spread over the time before it. Default: now. */
  now?: number;
  /** Told every 100,000 posts. */
  progress?(posts: number): void;
}

export interface Seeded<S> {
  state: S;
  users: number;
  posts: number;
  /** Commands given to handle(), all kinds. */
  commands: number;
  ms: number;
}

const WORDS = ['molt', 'shell', 'upgrade', 'coffee', 'erlang', 'memory', 'crab', 'deploy', 'reversible', 'lobster', 'draft', 'state'];
const EMOJI = ['❤️', '😂', '🎉', '😮', '👍'];

/** Handles of seeded people: seed_1, seed_2, ... */
export function seedHandle(n: number): string {
  return `seed_${n}`;
}

export function seed<S>(feed: FeedVersion<S>, options: SeedOptions): Seeded<S> {
  const started = performance.now();
  const total = Math.max(0, Math.floor(options.posts));
  const people = options.users ?? Math.min(10_000, Math.max(10, Math.ceil(total / 100)));
  const last = options.now ?? Date.now();
  // a small LCG: the same feed every time
  let x = 0x2545f491;
  const rand = (n: number): number => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % n;
  };
  let state = feed.init();
  let now = last - total * 1000 - people;
  let tokens = 0;
  let commands = 0;
  const has = (type: string) => feed.commands.includes(type);
  const send = (user: string | null, command: Command): unknown => {
    commands++;
    const ctx: Context = { now, token: () => `seed-token-${++tokens}`, caller: { conn: null, user, system: false }, online: [] };
    const out = feed.handle(state, command, ctx);
    if ('error' in out) throw new Error(`seed: ${command.type} refused: ${out.error.code} ${out.error.message}`);
    state = out.state;
    return out.reply;
  };

  const users: string[] = [];
  for (let i = 1; i <= people; i++) {
    now += 1;
    users.push((send(null, { type: 'join', handle: seedHandle(i) }) as { user: { id: string } }).user.id);
  }
  if (has('follow')) {
    for (let i = 0; i < people; i++) {
      for (let k = 0; k < 3; k++) {
        const j = rand(people);
        if (j !== i) send(users[i]!, { type: 'follow', user: users[j] });
      }
    }
  }
  // recent post ids to reply to and react to
  const recent: string[] = [];
  for (let p = 0; p < total; p++) {
    now += 1000;
    const author = users[rand(people)]!;
    const words = `${WORDS[rand(WORDS.length)]} ${WORDS[rand(WORDS.length)]} ${WORDS[rand(WORDS.length)]}`;
    let text = `Post ${p + 1}: ${words}.`;
    if (has('follow') && rand(10) === 0) text += ` cc @${seedHandle(rand(people) + 1)}`;
    if (has('follow') && rand(8) === 0) text += ` #${WORDS[rand(WORDS.length)]}`;
    const replyTo = recent.length > 0 && rand(10) < 2 ? recent[rand(recent.length)] : undefined;
    const made = send(author, replyTo === undefined ? { type: 'post', text } : { type: 'post', text, replyTo }) as { post: { id: string } };
    if (recent.length < 64) recent.push(made.post.id);
    else recent[rand(64)] = made.post.id;
    if (rand(3) === 0) {
      const target = recent[rand(recent.length)]!;
      const by = users[rand(people)]!;
      send(by, has('react') ? { type: 'react', post: target, emoji: EMOJI[rand(EMOJI.length)] } : { type: 'like', post: target });
    }
    if ((p + 1) % 100_000 === 0) options.progress?.(p + 1);
  }
  return { state, users: people, posts: total, commands, ms: performance.now() - started };
}
