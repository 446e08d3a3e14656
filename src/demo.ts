/**
 * `npm run demo`: a molt server with a handful of simulated people on it, so there is something to
 * watch when you push a new version. Each bot is a real WebSocket client on loopback speaking the wire
 * protocol (msgpack frames, src/transport/protocol.ts): it joins, posts, replies and likes or reacts
 * at a human pace, and does what the running version's hello says it can: from v3 on, the bots follow
 * each other, mention each other and reply in threads, replies to replies included.
 *
 *   npm run demo                    the same environment variables as `npm start` (README)
 *   npm run demo -- --posts 100000  start from a feed of that many posts, made by src/seed.ts
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import type { FeedVersion } from './contract.ts';
import { logOutput, serverOptionsFromEnv, settingFailure } from './env.ts';
import { resolveVersionDir } from './release/build.ts';
import { seed } from './seed.ts';
import { startServer, type RunningServer, type ServerOptions } from './server.ts';
import type { HelloFrame, ServerFrame } from './transport/protocol.ts';

const HANDLES = ['ada', 'grace', 'linus', 'margaret', 'ken', 'barbara'];

const POSTS = [
  'Shipped a fix before lunch. The feed did not even blink.',
  'Anyone else think hot code reload is the most underrated idea in computing?',
  'Reading about Erlang release handling again. 1990s tech, still ahead of us.',
  'Hermit crabs move into a bigger shell when they outgrow theirs. Relatable.',
  'Coffee number three. The state is in memory and so am I.',
  'Today I learned a snake sheds its skin in one piece, eyes included.',
  'Small steps, each one reversible. That is the whole trick.',
  'If your migration has no down, you do not have a rollback: you have hope.',
  'Who else keeps a draft open for hours and never posts it?',
  'Pair programming with a rubber duck. The duck is winning.',
  'New week, new version. Let us see what changes under our feet.',
  'The best deploy is the one nobody notices.',
  'Hot take: every feed should show you its own upgrade.',
  'Lobsters molt for their whole life. No retirement plan, just a new shell.',
];

const REPLIES = [
  'Agreed!',
  'Ha, same here.',
  'This is the way.',
  'Hard disagree, but I respect it.',
  'Tell me more?',
  'Bookmarking this one.',
  'Exactly what I was thinking this morning.',
  'Underrated post.',
  'The duck always wins.',
];

const TAGS = ['molt', 'hotreload', 'erlang', 'coffee'];

/** What the bots react with on a version that has reactions (v2's set); ❤️ always works. */
const EMOJI = ['❤️', '😂', '🎉', '😮', '👍'];

export interface DemoOptions extends ServerOptions {
  /** Default warn: the bots' traffic is not worth a log line each. */
  bots?: number;
  /** Start from a feed of this many posts, built through the boot version's handle() (src/seed.ts). */
  posts?: number;
  /** Told how the seeding went. */
  onSeeded?(seeded: { posts: number; users: number; ms: number }): void;
  /** Mean milliseconds between one bot's actions. With 5 bots, 2500 is about 2 actions a second. */
  pace?: number;
  /** Told when the bots see the running version change. */
  onVersion?(version: number, commands: readonly string[]): void;
}

export interface Demo {
  server: RunningServer;
  bots: Bot[];
  close(): Promise<void>;
}

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const { bots: _bots, posts, pace: _pace, onVersion: _onVersion, onSeeded, ...serverOptions } = options;
  let initialState: unknown;
  if (posts !== undefined && posts > 0) {
    const dir = resolveVersionDir(options.boot ?? 1);
    const feed = (await import(pathToFileURL(path.join(dir, 'index.ts')).href)) as FeedVersion;
    const seeded = seed(feed, { posts });
    initialState = seeded.state;
    onSeeded?.({ posts: seeded.posts, users: seeded.users, ms: seeded.ms });
  }
  const server = await startServer({
    ...serverOptions,
    port: options.port ?? 8080,
    operatorPort: options.operatorPort ?? 8081,
    logLevel: options.logLevel ?? 'warn',
    ...(initialState === undefined ? {} : { kernel: { initialState } }),
  });
  void server.kernel.warm();
  const bots = HANDLES.slice(0, options.bots ?? 5).map((handle, i) => new Bot(server.wsUrl, handle, options.pace ?? 2500, i === 0 ? options.onVersion : undefined));
  for (const bot of bots) bot.start();
  return {
    server,
    bots,
    async close() {
      for (const bot of bots) bot.stop();
      await server.close();
    },
  };
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

type Reply = { ok: true; data: any } | { ok: false; error: { code: string; message: string } };

/** One simulated person: a socket, a session token, and a loop of actions. */
export class Bot {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private token: string | null = null;
  private hello: HelloFrame | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private joinedAs = '';
  /** Posts seen recently (newest last), to reply to and react to. */
  private readonly recent: string[] = [];
  /** Posts that are replies (to reply to a reply), and the handles of people seen posting. */
  private readonly replies = new Set<string>();
  private readonly people = new Set<string>();
  private readonly follows = new Set<string>();
  /** Actions done, per kind (for the demo's own test). */
  readonly done = { post: 0, reply: 0, like: 0, react: 0, follow: 0, mention: 0, deepReply: 0 };

  constructor(
    private readonly url: string,
    readonly handle: string,
    private readonly pace: number,
    private readonly onVersion?: (version: number, commands: readonly string[]) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }

  get version(): number | null {
    return this.hello?.version ?? null;
  }

  private connect(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      let frame: ServerFrame;
      try {
        frame = unpackr.unpack(data) as ServerFrame;
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.on('close', () => {
      for (const resolve of this.pending.values()) resolve({ ok: false, error: { code: 'E_OFFLINE', message: 'closed' } });
      this.pending.clear();
      if (this.timer) clearTimeout(this.timer);
      if (!this.stopped) setTimeout(() => this.connect(), 1000 + Math.random() * 1000);
    });
    ws.on('error', () => {});
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.t) {
      case 'hello':
        void this.begin(frame);
        return;
      case 'upgrade':
        if (frame.phase === 'committed' && frame.hello) this.setHello(frame.hello);
        return;
      case 'reply': {
        const resolve = this.pending.get(frame.id);
        this.pending.delete(frame.id);
        resolve?.(frame.ok ? { ok: true, data: frame.data } : { ok: false, error: frame.error });
        return;
      }
      case 'event': {
        const e = frame.event;
        const post = e.post as { id?: string; replyTo?: string | null; author?: { handle?: string } } | undefined;
        if (e.type === 'post' && typeof post?.id === 'string') {
          this.remember(post.id);
          if (post.replyTo) this.replies.add(post.id);
          const by = post.author?.handle;
          if (typeof by === 'string' && by !== this.joinedAs) this.people.add(by);
        }
        if (e.type === 'delete' && typeof e.post === 'string') this.forget(e.post);
        return;
      }
    }
  }

  private setHello(hello: HelloFrame): void {
    const changed = this.hello?.release !== hello.release;
    this.hello = hello;
    if (changed) this.onVersion?.(hello.version, hello.commands);
  }

  private async begin(hello: HelloFrame): Promise<void> {
    this.setHello(hello);
    if (this.token) {
      const r = await this.send('resume', { token: this.token });
      if (!r.ok) this.token = null;
    }
    if (!this.token) {
      // A handle already taken (another demo, an earlier bot) gets a number.
      for (let n = 0; n < 20 && !this.token; n++) {
        const r = await this.send('join', { handle: n === 0 ? this.handle : `${this.handle}${n + 1}` });
        if (r.ok) {
          this.token = r.data.token;
          this.joinedAs = r.data.user.handle;
        } else if (r.error.code !== 'handle_taken') break;
      }
    }
    const t = await this.send('timeline', { limit: 20 });
    if (t.ok) for (const p of [...t.data.posts].reverse()) this.remember(p.id);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    // Exponential gaps: people act in bursts and lulls, not on a metronome.
    const gap = Math.min(this.pace * 4, -Math.log(1 - Math.random()) * this.pace) + 300;
    this.timer = setTimeout(() => void this.act().finally(() => this.schedule()), gap);
  }

  private async act(): Promise<void> {
    if (!this.token || !this.hello) return;
    const roll = Math.random();
    const target = this.recent[Math.floor(Math.random() * Math.min(this.recent.length, 12)) + Math.max(0, this.recent.length - 12)];
    // v3 on: people to follow and mention
    const social = this.hello.commands.includes('follow');
    const someone = this.people.size > 0 ? pick([...this.people]) : undefined;
    if (social && someone !== undefined && !this.follows.has(someone) && roll < 0.12) {
      const r = await this.send('follow', { handle: someone });
      if (r.ok) {
        this.follows.add(someone);
        this.done.follow++;
      }
    } else if (roll < 0.3 || target === undefined) {
      const mention = social && someone !== undefined && Math.random() < 0.35;
      const tag = social && Math.random() < 0.25 ? ` #${pick(TAGS)}` : '';
      const r = await this.send('post', { text: `${pick(POSTS)}${mention ? ` cc @${someone}` : ''}${tag}` });
      if (r.ok) {
        this.done.post++;
        if (mention) this.done.mention++;
      }
    } else if (roll < 0.5) {
      // in a thread: often a reply to a reply
      const replies = [...this.replies].filter((id) => this.recent.includes(id));
      const deep = social && replies.length > 0 && Math.random() < 0.5;
      const to = deep ? pick(replies) : target;
      const r = await this.send('post', { text: pick(REPLIES), replyTo: to });
      if (r.ok) {
        this.done.reply++;
        if (deep) this.done.deepReply++;
      }
    } else if (this.hello.commands.includes('react')) {
      const emoji = Math.random() < 0.4 ? '❤️' : pick(EMOJI);
      const r = await this.send('react', { post: target, emoji });
      if (r.ok) this.done.react++;
      else if (r.error.code === 'bad_emoji') await this.send('react', { post: target, emoji: '❤️' });
    } else if (this.hello.commands.includes('like')) {
      const r = await this.send(Math.random() < 0.85 ? 'like' : 'unlike', { post: target });
      if (r.ok) this.done.like++;
    }
  }

  private remember(id: string): void {
    this.forget(id);
    this.recent.push(id);
    if (this.recent.length > 50) this.recent.shift();
  }

  private forget(id: string): void {
    const at = this.recent.indexOf(id);
    if (at >= 0) this.recent.splice(at, 1);
    if (!this.recent.includes(id)) this.replies.delete(id);
  }

  private send(type: string, fields: Record<string, unknown>): Promise<Reply> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve({ ok: false, error: { code: 'E_OFFLINE', message: 'not connected' } });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      ws.send(packr.pack({ ...fields, id, type }));
    });
  }
}

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)]!;
}

/**
 * What the demo suggests trying next, on feed v`v`, in an order that works: the broken release is a
 * v2 whose 1->2 throws, so only v1 runs (and refuses) its migration; and the bots' reactions, follows
 * and notifications are what a rollback drops, so it is refused until --accept-drops covers them.
 */
export function tryNext(v: number, url: string, bold: (s: string) => string = (s) => s): string[] {
  return [
    ...(v < 2
      ? [
          `    ${bold(`npx molt push examples/broken-throws${url}`)}`,
          '        a v2 whose migration throws halfway: refused, and nothing changes',
          `    ${bold(`npx molt push 2${url}`)}`,
          '        likes become emoji reactions, live, in every open page, without a reload',
        ]
      : []),
    ...(v < 3 ? [`    ${bold(`npx molt push 3${url}`)}`, '        profiles, follows, mentions, notifications and threads arrive in every open page'] : []),
    `    ${bold(`npx molt rollback --dry-run${url}`)}`,
    '        what going back to the version before would drop; run it again without --dry-run and with',
    '        the --accept-drops it names: the panel shows what was not kept',
    `    ${bold(`npx molt status${url}`)}`,
    '        version, entities, clients, upgrade history',
  ];
}

/**
 * The flags the suggested commands need in another terminal: the CLI's default operator URL is port
 * 8081, and its default token file `.molt/operator-token`. A demo started with MOLT_TOKEN_FILE
 * suggested commands that, typed in a fresh terminal, read the default file and were refused.
 */
export function operatorFlags(operatorUrl: string, tokenFile: string | undefined): string {
  const quoted = (s: string) => (/^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return (operatorUrl.endsWith(':8081') ? '' : ` --url ${operatorUrl}`) + (tokenFile === undefined ? '' : ` --token-file ${quoted(path.resolve(tokenFile))}`);
}

/** A variable `serverOptionsFromEnv` refused: said as a setting (exit 2), as `npm start` says it. */
class SettingError extends Error {}

function settings(): ReturnType<typeof serverOptionsFromEnv> {
  try {
    return serverOptionsFromEnv(process.env);
  } catch (err) {
    throw new SettingError((err as Error).message);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { posts: { type: 'string' }, bots: { type: 'string' } }, strict: true });
  const count = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} ${raw}: expected a whole number`);
    return n;
  };
  const posts = count('posts', values.posts);
  const bots = count('bots', values.bots);
  const logs = logOutput();
  if (posts) console.error(`  seeding ${posts.toLocaleString('en-US')} posts through the feed's own handle()…`);
  const demo = await startDemo({
    logLevel: 'warn',
    ...settings(),
    logStream: logs.stream,
    ...(posts === undefined ? {} : { posts }),
    ...(bots === undefined ? {} : { bots }),
    onSeeded: (s) => console.error(`  seeded ${s.posts.toLocaleString('en-US')} posts by ${s.users.toLocaleString('en-US')} people in ${(s.ms / 1000).toFixed(1)} s`),
    onVersion: (version, commands) =>
      console.log(
        `  · the bots see feed v${version}: ${commands.includes('follow') ? 'they follow, mention and reply in threads now' : commands.includes('react') ? 'they react with emoji now' : 'they like posts'}`,
      ),
  });
  const { server } = demo;
  const b = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
  const url = operatorFlags(server.operatorUrl, process.env['MOLT_TOKEN_FILE'] || undefined);
  const v = server.kernel.version;
  logs.ready(server, `molt demo: ${demo.bots.length} simulated people are posting on feed v${v}`);
  console.log(
    [
      `  Open it in two browsers (or one and a private window: two people), and join.`,
      `  Operator    ${server.operatorUrl}${server.tokenFile ? `, token in ${server.tokenFile}` : ''}`,
      '',
      '  Then, in another terminal in this folder, try:',
      ...tryNext(v, url, b),
      '',
      '  Ctrl-C stops the demo (the feed lives in memory and goes with it).',
      '',
    ].join('\n'),
  );
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (closing) process.exit(1);
      closing = true;
      void demo.close().then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    // a setting it cannot use (a variable out of its range, MOLT_BOOT, the token, a port) exits 2, as
    // `npm start` does, naming it: README's table says so of the variables the demo reads too
    const said = err instanceof SettingError ? err.message : settingFailure(err, process.env);
    console.error(`molt demo: ${said ?? (err as Error)?.message ?? err}`);
    process.exit(said === null ? 1 : 2);
  });
}
