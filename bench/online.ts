/**
 * Online upgrades as people feel them, at 10k, 100k and 1M posts (BENCH_SIZES), with live clients:
 *
 *   wait         50 real WebSocket clients each send a command every 20 ms; the longest time any of them
 *                waited for a reply, and the p99 round trip, during a push and a rollback, beside their
 *                steady-state p99 from the same run. Three push/rollback pairs: min / median / max.
 *                Beside them, the server's own account (the report's loopDelayMs.max): how late its
 *                event loop ran, which tells a stall of the server from one of the machine, and the
 *                pauses V8's collector reported there (the report's gc: the longest, and their sum).
 *   after_many   at the largest size, the same after 20 upgrades since boot (the GC debt).
 *   time         the whole online upgrade vs a stop-the-world migrate + freeze + validate of the same
 *                state in one process (the floor), measured in the same run.
 *   cpu          commands per server CPU-second with clients pipelining likes (each answered, and an event
 *                about it sent to every client), vs a bare ws server doing the same (the floor); and reads
 *                (`thread`: a reply, nothing sent to others) vs a bare ws echo answering each frame with a
 *                reply of the same kind. Servers in processes of their own, both up, measured in three
 *                alternating 4 s rounds: medians, and the median of the rounds' ratios.
 *
 * The server runs in a child process (bench/serve.ts); loopback only, bounded in count and time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import WebSocket, { WebSocketServer } from 'ws';
import { v1ToV2 } from '../migrations/001-v1-to-v2.ts';
import { runDirection } from '../src/feed/lib/run.ts';
import * as v1 from '../src/feed/v1/index.ts';
import * as v2 from '../src/feed/v2/index.ts';
import { buildRelease } from '../src/release/build.ts';
import { seed } from '../src/seed.ts';
import { LoopLag } from '../src/kernel/upgrade/lag.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]! : 0);
const stats3 = (xs: number[]) => ({ min: round(Math.min(...xs)), median: round(quantile(xs, 0.5)), max: round(Math.max(...xs)) });

/** Budgets raised for the bench's own clients (all from one address, all busy). */
const LIMITS = {
  MOLT_COMMANDS_PER_SEC: '100000', MOLT_COMMAND_BURST: '100000', MOLT_IP_COMMANDS_PER_SEC: '1000000', MOLT_IP_COMMAND_BURST: '1000000',
  MOLT_JOINS_PER_MIN: '100000', MOLT_JOIN_BURST: '100000', MOLT_IP_JOINS_PER_MIN: '100000', MOLT_IP_JOIN_BURST: '100000',
  MOLT_MAX_CONNECTIONS_PER_IP: '1000', MOLT_MAX_IN_FLIGHT: '4096', MOLT_MAX_QUEUED_COMMANDS: '100000',
};

interface Served {
  proc: ChildProcess;
  url: string;
  wsUrl: string;
  operatorUrl: string;
  token: string;
  pid: number;
  posts: number;
  seedMs: number;
}

function spawnServer(posts: number): Promise<Served> {
  // BENCH_SERVER_ARGS: extra node flags for the server, e.g. "--trace-gc" or "--cpu-prof --cpu-prof-dir=/tmp/p"
  const extra = (process.env['BENCH_SERVER_ARGS'] ?? '').split(' ').filter(Boolean);
  // --expose-gc: the server collects what seeding left behind before anything is measured (at 1M
  // posts a full collection of it otherwise lands in the steady window and inflates its p99)
  const proc = spawn(process.execPath, ['--expose-gc', ...extra, '--import', 'tsx', path.join(ROOT, 'bench/serve.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...LIMITS, BENCH_POSTS: String(posts) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let ready = false;
    proc.stdout!.on('data', (d: Buffer) => {
      if (extra.length > 0) process.stderr.write(d); // what the flags print (--trace-gc), on stderr
      if (ready) return;
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        ready = true;
        resolve({ proc, ...JSON.parse(line) });
      }
    });
    proc.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
  });
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function operator<T>(s: Served, route: string, body: unknown): Promise<T> {
  const res = await fetch(`${s.operatorUrl}${route}`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as T;
}

interface Sample {
  sent: number;
  rtt: number;
}

/** A frame's type as msgpack writes it first in every server frame: the string "reply". */
const REPLY = Buffer.from([0xa5, ...Buffer.from('reply')]);

class Client {
  #id = 0;
  readonly #waiting = new Map<number, (f: { ok: boolean }) => void>();
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      // only replies are read: the events of 50 clients' likes reach every client (125k frames a
      // second), and decoding them all kept this process busy enough to delay its own measurements
      const at = data.indexOf(REPLY);
      if (at < 0 || at > 8) return;
      const f = packr.unpack(data) as { t: string; id?: number; ok: boolean };
      if (f.t === 'reply' && f.id !== undefined) {
        this.#waiting.get(f.id)?.(f);
        this.#waiting.delete(f.id);
      }
    });
  }
  static open(url: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }
  send(m: object): Promise<{ ok: boolean; data?: any; error?: any }> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve as never);
      this.ws.send(packr.pack({ id, ...m }));
    });
  }
}

/** 50 clients, each a command every 20 ms: likes and unlikes on the newest posts. */
class Load {
  readonly samples: Sample[] = [];
  #timers: NodeJS.Timeout[] = [];
  constructor(readonly clients: Client[], readonly posts: number) {}
  start(): void {
    this.clients.forEach((c, i) => {
      let n = 0;
      const timer = setInterval(() => {
        const sent = performance.now();
        // a like, then the unlike of the same post: every command changes the state (the upgrade has
        // real writes to catch up with). Liking post (i*7+n) % 500 and unliking the next one, as this
        // did, made every command a no-op once each client had liked its 250 posts (after ~10 s)
        const post = `p${(this.posts - ((i * 7 + (n >> 1)) % 500)).toString(36)}`;
        void c.send({ type: n++ % 2 ? 'unlike' : 'like', post }).then(() => this.samples.push({ sent, rtt: performance.now() - sent }));
      }, 20);
      this.#timers.push(timer);
    });
  }
  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }
  between(from: number, to: number): number[] {
    return this.samples.filter((s) => s.sent >= from && s.sent <= to).map((s) => s.rtt);
  }
}

async function clientsFor(s: Served, n: number): Promise<Client[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => Client.open(s.wsUrl)));
  await Promise.all(clients.map(async (c, i) => {
    const r = await c.send({ type: 'join', handle: `bench_${i}_${Math.random().toString(36).slice(2, 6)}` });
    if (!r.ok) throw new Error(`join refused: ${JSON.stringify(r)}`);
  }));
  return clients;
}

interface Report {
  result: string;
  totalMs: number;
  pauseMs: number;
  online: boolean;
  rounds: number;
  phases: Record<string, number>;
  loopDelayMs?: { p99: number; max: number };
  cpuMs?: { live: number; rehearsal: number };
  gc?: { pauses: number; ms: number; longestMs: number; full: number };
  error?: { code: string; message: string };
}

/** One upgrade under load: the latency people felt during it and in the 2 s after. */
async function measured(load: Load, run: () => Promise<Report>) {
  const lag = new LoopLag();
  lag.start();
  const t0 = performance.now();
  const report = await run();
  const t1 = performance.now();
  const benchLate = lag.stop();
  if (report.result !== 'committed') throw new Error(`upgrade ${report.result}: ${report.error?.code} ${report.error?.message}`);
  await sleep(2000);
  const during = load.between(t0, t1);
  const after = load.between(t1, t1 + 2000);
  if (process.env['BENCH_TRACE']) {
    // where the slow replies fell: ms after the request, beside the report's phases
    const slow = load.samples.filter((x) => x.sent >= t0 && x.sent <= t1 + 2000 && x.rtt > 40).sort((a, b) => b.rtt - a.rtt).map((x) => `${Math.round(x.sent - t0)}+${Math.round(x.rtt)}`);
    process.stderr.write(`trace: total ${Math.round(t1 - t0)} ms, phases ${JSON.stringify(report.phases)}, server loop late ${JSON.stringify(report.loopDelayMs)}, server gc pauses ${JSON.stringify(report.gc)}, this process's loop late ${JSON.stringify(benchLate)}, slowest (sent+rtt, of ${slow.length} over 40 ms): ${slow.slice(0, 20).join(' ')}\n`);
  }
  return {
    total_ms: round(report.totalMs),
    pause_ms: report.pauseMs,
    loop_late_max_ms: report.loopDelayMs?.max ?? 0,
    gc_longest_ms: report.gc?.longestMs ?? 0,
    gc_ms: report.gc?.ms ?? 0,
    cpu_live_ms: report.cpuMs?.live ?? 0,
    cpu_rehearsal_ms: report.cpuMs?.rehearsal ?? 0,
    online: report.online,
    rounds: report.rounds,
    during: { n: during.length, p99_ms: round(quantile(during, 0.99)), longest_wait_ms: round(Math.max(0, ...during)) },
    after_2s_p99_ms: round(quantile(after, 0.99)),
  };
}

/**
 * Freeze every node of `root`, frozen or not (a collection may freeze its own nodes and not the
 * entities in them): the stop-the-world floor's freeze, a walk over the whole state.
 */
function freezeAll(root: unknown): void {
  if (typeof root !== 'object' || root === null) return;
  const stack: object[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'object' && v !== null) stack.push(v);
      }
    } else
      for (const k in node) {
        const v = (node as Record<string, unknown>)[k];
        if (typeof v === 'object' && v !== null) stack.push(v);
      }
    Object.freeze(node);
  }
}

/**
 * Stop-the-world in one process: migrate, freeze and validate the same state, both ways, three times
 * (the median of each way is the floor: one cold run moved between 0.95 and 1.56 s at 1M posts).
 */
function floor(state: v1.State) {
  const once = <S>(direction: 'up' | 'down', from: unknown, validate: (s: S) => readonly unknown[]) => {
    const t0 = performance.now();
    const to = runDirection(v1ToV2, direction, from, { now: 0 }).state as S;
    freezeAll(to);
    if (validate(to).length) throw new Error(`floor state after ${direction} invalid`);
    return { to, ms: performance.now() - t0 };
  };
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const up = once<v2.State>('up', state, v2.validate);
    ups.push(round(up.ms));
    downs.push(round(once<v1.State>('down', up.to, v1.validate).ms));
  }
  return { up_ms: quantile(ups, 0.5), down_ms: quantile(downs, 0.5), runs: { up_ms: ups, down_ms: downs } };
}

/** Commands answered per CPU-second of the server, clients pipelining `depth` each for `ms`. */
async function throughput(pid: number, clients: Client[], make: (i: number, n: number) => object, ms = 4000, depth = 8) {
  let answered = 0;
  let running = true;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await Promise.all(clients.map(async (c, i) => {
    let n = 0;
    const lane = async () => {
      while (running) {
        await c.send(make(i, n++));
        answered++;
      }
    };
    const stop = setTimeout(() => (running = false), ms);
    await Promise.all(Array.from({ length: depth }, lane));
    clearTimeout(stop);
  }));
  const cpu = cpuSeconds(pid) - cpu0;
  const seconds = (performance.now() - t0) / 1000;
  return { commands: answered, per_s: Math.round(answered / seconds), server_cpu_s: round(cpu), per_cpu_s: Math.round(answered / Math.max(cpu, 0.01)) };
}

/**
 * molt and its floor in alternating rounds (both servers up, each measured alone), so that a drift of
 * the machine's speed, which moved one server's figure by a fifth between two rounds, falls on both:
 * each side's median commands per CPU-second, and the median of the rounds' ratios.
 */
async function alternate(molt: () => ReturnType<typeof throughput>, bare: () => ReturnType<typeof throughput>, rounds = 3) {
  const m: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    m.push((await molt()).per_cpu_s);
    b.push((await bare()).per_cpu_s);
  }
  const ratios = m.map((x, i) => round(x / b[i]!));
  return { molt: { per_cpu_s: quantile(m, 0.5), rounds: m }, bare: { per_cpu_s: quantile(b, 0.5), rounds: b }, ratio: quantile(ratios, 0.5), ratios };
}

/** The floor for CPU: a bare ws server in a process of its own that does what molt does with a like:
 *  answers it and sends an event about it to every client (encoded once). */
function echoServer(fanout: boolean, replyData: unknown): Promise<{ proc: ChildProcess; url: string; pid: number }> {
  const code = `
    const { WebSocketServer } = require('ws'); const { Packr } = require('msgpackr');
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    let seq = 0;
    const fanout = ${fanout};
    const replyData = ${JSON.stringify(replyData ?? null)};
    wss.on('connection', (ws) => ws.on('message', (d) => {
      const m = packr.unpack(d);
      if (!fanout) {
        // a plain echo: answers with the very reply molt gave the same read, nothing else
        ws.send(packr.pack({ t: 'reply', id: m.id, ok: true, data: replyData }));
        return;
      }
      const event = packr.pack({ t: 'event', seq: ++seq, version: 1, event: { type: 'like', post: m.post, likes: 1, by: 'u1', on: m.type === 'like' } });
      for (const c of wss.clients) c.send(event);
      ws.send(packr.pack({ t: 'reply', id: m.id, ok: true, data: { post: m.post, likes: 1, liked: true } }));
    }));
    wss.on('listening', () => process.stdout.write(JSON.stringify({ port: wss.address().port }) + '\\n'));`;
  const proc = spawn(process.execPath, ['-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    proc.stdout!.once('data', (d: Buffer) => resolve({ proc, url: `ws://127.0.0.1:${JSON.parse(d.toString()).port}`, pid: proc.pid! }));
  });
}
void WebSocketServer;

const sizes = (process.env['BENCH_SIZES'] ?? '10000,100000,1000000').split(',').map(Number);
const cycles = Number(process.env['BENCH_CYCLES'] ?? 20);
const [r2] = await Promise.all([buildRelease(2)]);
const release2 = { code: r2.code, view: r2.view, hash: r2.hash };
const out: Record<string, unknown> = { machine: { node: process.version, cpus: (await import('node:os')).cpus().length }, clients: 50, interval_ms: 20, sizes: {} };

for (const posts of sizes) {
  const s = await spawnServer(posts);
  const clients = await clientsFor(s, 50);
  const load = new Load(clients, s.posts);
  load.start();
  await sleep(3000);
  const t = performance.now();
  const steadyCpu0 = cpuSeconds(s.pid);
  await sleep(4000);
  // the server's CPU a millisecond under this load alone, to tell an upgrade's own CPU from the commands'
  const steadyCpuPerMs = (cpuSeconds(s.pid) - steadyCpu0) / (performance.now() - t);
  const steady = load.between(t, performance.now());
  const pushes: Awaited<ReturnType<typeof measured>>[] = [];
  const rollbacks: Awaited<ReturnType<typeof measured>>[] = [];
  for (let i = 0; i < 3; i++) {
    pushes.push(await measured(load, () => operator<Report>(s, '/upgrade', { release: release2 })));
    rollbacks.push(await measured(load, () => operator<Report>(s, '/rollback', { acceptDrops: { reactions: 1e9 } })));
  }
  let many: unknown = null;
  if (posts === sizes[sizes.length - 1] && cycles > 3) {
    const all: Awaited<ReturnType<typeof measured>>[] = [];
    for (let i = 3; i < cycles; i++) {
      all.push(await measured(load, () => operator<Report>(s, '/upgrade', { release: release2 })));
      all.push(await measured(load, () => operator<Report>(s, '/rollback', { acceptDrops: { reactions: 1e9 } })));
    }
    const last = all.slice(-6);
    many = {
      upgrades_since_boot: cycles * 2,
      last_six: { longest_wait_ms: stats3(last.map((m) => m.during.longest_wait_ms)), p99_ms: stats3(last.map((m) => m.during.p99_ms)), pause_ms: stats3(last.map((m) => m.pause_ms)), total_ms: stats3(last.map((m) => m.total_ms)) },
    };
  }
  load.stop();
  // CPU per command, molt beside a bare ws server doing the same: likes (a reply and an event to every
  // client), and reads, which send nothing to anyone else (what a command itself costs)
  const readPost = `p${(s.posts - 7).toString(36)}`;
  const sample = await clients[0]!.send({ type: 'thread', post: readPost });
  if (!sample.ok) throw new Error(`thread ${readPost}: ${JSON.stringify(sample.error)}`);
  const bare = await Promise.all([echoServer(true, sample.data), echoServer(false, sample.data)]);
  const bareClients = await Promise.all(bare.map((b) => Promise.all(Array.from({ length: 50 }, () => Client.open(b.url)))));
  const likes = await alternate(
    () => throughput(s.pid, clients, (i, n) => ({ type: n % 2 ? 'unlike' : 'like', post: `p${(s.posts - (i % 400)).toString(36)}` })),
    () => throughput(bare[0].pid, bareClients[0]!, (i, n) => ({ type: n % 2 ? 'unlike' : 'like', post: `p${i}` })),
  );
  const reads = await alternate(
    () => throughput(s.pid, clients, () => ({ type: 'thread', post: readPost })),
    () => throughput(bare[1].pid, bareClients[1]!, (i) => ({ type: 'thread', post: `p${i}` })),
  );
  for (const c of [...clients, ...bareClients.flat()]) c.ws.close();
  s.proc.kill('SIGTERM');
  for (const b of bare) b.proc.kill();
  // the floor for time: the same state, stop-the-world, in this process
  const state = seed(v1, { posts, now: 1_790_000_000_000 }).state;
  const f = floor(state);
  const p99 = round(quantile(steady, 0.99));
  /**
   * What upgrades cost in CPU (the report's cpuMs): the live process's, that beyond what the steady
   * load alone would have used in as long (its commands), the rehearsal's, and the two together (the
   * upgrade's own) against the stop-the-world floor, which runs on one thread (its time is its CPU).
   */
  const cpuOf = (ms: Awaited<ReturnType<typeof measured>>[], floorMs: number) => {
    const own = ms.map((m) => m.cpu_live_ms - steadyCpuPerMs * 1000 * m.total_ms + m.cpu_rehearsal_ms);
    return {
      cpu_live_ms: stats3(ms.map((m) => m.cpu_live_ms)),
      cpu_rehearsal_ms: stats3(ms.map((m) => m.cpu_rehearsal_ms)),
      cpu_own_ms: stats3(own),
      ratio_cpu_own_vs_stop_the_world: stats3(own.map((x) => x / floorMs)),
    };
  };
  (out['sizes'] as Record<string, unknown>)[String(posts)] = {
    seed_ms: s.seedMs,
    steady: { n: steady.length, p50_ms: round(quantile(steady, 0.5)), p99_ms: p99, server_cpu_ms_per_s: round(steadyCpuPerMs * 1e6) },
    push: {
      longest_wait_ms: stats3(pushes.map((m) => m.during.longest_wait_ms)),
      longest_wait_above_steady_p99_ms: stats3(pushes.map((m) => m.during.longest_wait_ms - p99)),
      p99_ms: stats3(pushes.map((m) => m.during.p99_ms)),
      server_loop_late_max_ms: stats3(pushes.map((m) => m.loop_late_max_ms)),
      server_gc_pause_longest_ms: stats3(pushes.map((m) => m.gc_longest_ms)),
      server_gc_pause_ms: stats3(pushes.map((m) => m.gc_ms)),
      after_2s_p99_ms: stats3(pushes.map((m) => m.after_2s_p99_ms)),
      pause_ms: stats3(pushes.map((m) => m.pause_ms)),
      total_ms: stats3(pushes.map((m) => m.total_ms)),
      ratio_total_vs_stop_the_world: stats3(pushes.map((m) => m.total_ms / f.up_ms)),
      ...cpuOf(pushes, f.up_ms),
    },
    rollback: {
      longest_wait_ms: stats3(rollbacks.map((m) => m.during.longest_wait_ms)),
      longest_wait_above_steady_p99_ms: stats3(rollbacks.map((m) => m.during.longest_wait_ms - p99)),
      p99_ms: stats3(rollbacks.map((m) => m.during.p99_ms)),
      server_loop_late_max_ms: stats3(rollbacks.map((m) => m.loop_late_max_ms)),
      server_gc_pause_longest_ms: stats3(rollbacks.map((m) => m.gc_longest_ms)),
      server_gc_pause_ms: stats3(rollbacks.map((m) => m.gc_ms)),
      pause_ms: stats3(rollbacks.map((m) => m.pause_ms)),
      total_ms: stats3(rollbacks.map((m) => m.total_ms)),
      ratio_total_vs_stop_the_world: stats3(rollbacks.map((m) => m.total_ms / f.down_ms)),
      ...cpuOf(rollbacks, f.down_ms),
    },
    stop_the_world_floor: f,
    after_many_upgrades: many,
    cpu: {
      likes_with_fanout: { molt: likes.molt, bare_ws: likes.bare, ratio_commands_per_cpu_s: likes.ratio, ratios: likes.ratios },
      reads_no_fanout: { molt: reads.molt, bare_ws_echo: reads.bare, ratio_commands_per_cpu_s: reads.ratio, ratios: reads.ratios },
    },
  };
  process.stderr.write(`bench online: ${posts} posts done\n`);
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
process.exit(0);
