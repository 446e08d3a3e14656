/**
 * `npm run load`: many clients join and post at a steady aggregate rate while the operator pushes
 * version 2 and rolls back, again and again. It counts every post and says what went wrong, as JSON:
 *
 *   posts acknowledged; acknowledged posts missing from the final state; posts in the final state
 *   more than once; replies and events out of order per connection; events missed or repeated;
 *   unexpected disconnects; commands refused; latency p50/p99 overall and during upgrades.
 *
 * The server is the real one (`src/main.ts`) in a process of its own, its limits raised through the
 * environment (all clients share 127.0.0.1); the clients run in one or more other processes
 * (bench/load-clients.ts); the upgrades go through the operator API. Loopback only, bounded in clients,
 * posts and time. Options: --clients 500 --rate 500 (posts/s, all clients together) --seconds 60
 * --upgrades 20 --groups 2 (client processes).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { buildRelease } from '../src/release/build.ts';
import type { GroupResult, GroupStart } from './load-clients.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const now = () => performance.timeOrigin + performance.now();
const say = (what: string) => process.env['LOAD_VERBOSE'] && process.stderr.write(`load: ${what}\n`);

export interface LoadOptions {
  clients: number;
  /** Posts per second, all clients together. */
  rate: number;
  seconds: number;
  upgrades: number;
  /** Client processes. */
  groups: number;
}

export const FULL: LoadOptions = { clients: 500, rate: 500, seconds: 60, upgrades: 20, groups: 2 };

/** The server's limits for a load test: every client is on 127.0.0.1, so the per-address budgets are
 *  raised to what the whole test sends. The per-connection ones stay as they are (each client posts far
 *  below them) but for the command rate: the reader at the end pages the whole timeline at once. */
function serverEnv(o: LoadOptions, token: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    OPERATOR_PORT: '0',
    MOLT_TOKEN: token,
    LOG_LEVEL: 'info',
    MOLT_MAX_CONNECTIONS_PER_IP: String(o.clients + 10),
    MOLT_COMMANDS_PER_SEC: '1000',
    MOLT_IP_COMMANDS_PER_SEC: String(o.rate * 10 + 1000),
    MOLT_IP_COMMAND_BURST: String(o.clients * 4 + 1000),
    MOLT_IP_JOINS_PER_MIN: String(o.clients * 60),
    MOLT_IP_JOIN_BURST: String(o.clients + 10),
  };
}

const pct = (sorted: number[], p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 100) / 100 : null);
const stats = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s.length ? Math.round(s[s.length - 1]! * 100) / 100 : null };
};

async function startServer(o: LoadOptions, token: string): Promise<{ child: ChildProcess; url: string; operator: string; log: string[] }> {
  // LOAD_SERVER_ARGS: extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env['LOAD_SERVER_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: serverEnv(o, token), stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let buffered = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${log.join('\n')}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => log.push(String(d)));
    child.stdout!.on('data', (d: Buffer) => {
      buffered += String(d);
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        log.push(line);
        if (log.length > 2000) log.shift();
        try {
          const entry = JSON.parse(line) as { url?: string; operator?: string };
          if (entry.url && entry.operator) {
            clearTimeout(timer);
            resolve({ child, url: entry.url, operator: entry.operator, log });
          }
        } catch {
          // not JSON: keep it in the log
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${log.join('\n')}`)));
  });
}

/** Every top-level post in the feed, by text, paging the timeline as a client would. */
async function finalTexts(url: string): Promise<Map<string, number>> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
  const waiting = new Map<number, (f: { ok: boolean; data?: any; error?: { code: string; message: string } }) => void>();
  let id = 0;
  let closed: Error | null = null;
  ws.on('message', (d: Buffer) => {
    const f = packr.unpack(d) as { t: string; id: number };
    if (f.t === 'reply') waiting.get(f.id)?.(f as never);
  });
  ws.on('close', (code, reason) => {
    closed = new Error(`the reader's socket closed: ${code} ${String(reason)}`);
    for (const w of waiting.values()) w({ ok: false, error: { code: 'closed', message: closed.message } });
  });
  await once(ws, 'open');
  const ask = (type: string, fields: object) =>
    new Promise<{ ok: boolean; data?: any; error?: { code: string; message: string; retryMs?: number } }>((resolve) => {
      if (closed) throw closed;
      waiting.set(++id, resolve);
      ws.send(packr.pack({ id, type, ...fields }));
    });
  const texts = new Map<string, number>();
  let before: string | undefined;
  for (;;) {
    const r = await ask('timeline', { limit: 50, ...(before ? { before } : {}) });
    if (!r.ok) {
      if (r.error?.code === 'E_RATE_LIMITED') {
        await new Promise((res) => setTimeout(res, r.error!.retryMs));
        continue;
      }
      throw new Error(`timeline: ${r.error?.code} ${r.error?.message}`);
    }
    for (const p of r.data.posts as { text: string }[]) texts.set(p.text, (texts.get(p.text) ?? 0) + 1);
    if (!r.data.next) break;
    before = r.data.next;
  }
  ws.close();
  return texts;
}

export async function runLoad(o: LoadOptions) {
  const token = `load-${Math.random().toString(36).slice(2)}-token`;
  const v2 = await buildRelease(2);
  const server = await startServer(o, token);
  const operator = async (route: string, body: unknown) => {
    const res = await fetch(`${server.operator}${route}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as { result: string; pauseMs: number; error?: { code: string; message: string } };
  };
  const groups: ChildProcess[] = [];
  let serverExit: number | null = null;
  server.child.once('exit', (code) => (serverExit = code ?? -1));
  try {
    // ---- clients join
    const prefix = `l${Math.random().toString(36).slice(2, 6)}_`;
    const perGroup = Array.from({ length: o.groups }, (_, g) => Array.from({ length: o.clients }, (_, i) => i).filter((i) => i % o.groups === g));
    for (const clients of perGroup) {
      const child = fork(path.join(ROOT, 'bench/load-clients.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      groups.push(child);
      const start: GroupStart = { url: `${server.url.replace(/^http/, 'ws')}/ws`, clients, rate: o.rate / o.clients, prefix };
      child.send({ start });
    }
    await Promise.all(
      groups.map(
        (g) =>
          new Promise<void>((resolve, reject) =>
            g.once('message', (m: { ready?: boolean; failed?: string }) => (m.ready ? resolve() : reject(new Error(`a client group failed: ${m.failed}`)))),
          ),
      ),
    );

    say('all clients joined');
    // ---- posting, with upgrades spread over the run
    const t0 = now() + 200;
    for (const g of groups) g.send({ go: { at: t0, rate: o.rate / o.clients } });
    const upgrades: { kind: 'push' | 'rollback'; result: string; pauseMs: number; from: number; to: number; error?: string }[] = [];
    const every = (o.seconds * 1000) / o.upgrades;
    for (let i = 0; i < o.upgrades; i++) {
      const at = t0 + every * (i + 0.5);
      await new Promise((r) => setTimeout(r, Math.max(0, at - now())));
      const kind = i % 2 === 0 ? 'push' : 'rollback';
      const from = now();
      const report = kind === 'push' ? await operator('/upgrade', { release: { code: v2.code, view: v2.view, hash: v2.hash } }) : await operator('/rollback', {});
      say(`${kind} ${report.result} ${report.pauseMs} ms`);
      upgrades.push({ kind, result: report.result, pauseMs: report.pauseMs, from, to: now(), ...(report.error ? { error: `${report.error.code}: ${report.error.message}` } : {}) });
    }
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + o.seconds * 1000 - now())));

    say('stop posting');
    // ---- stop posting; every post must be answered
    const results = await Promise.all(
      groups.map((g) => {
        const done = new Promise<GroupResult>((resolve) => g.once('message', (m: { result: GroupResult }) => resolve(m.result)));
        g.send({ finish: { timeoutMs: 15_000 } });
        return done;
      }),
    );
    const elapsed = (now() - t0) / 1000;

    say('all answered');
    // ---- the final state
    const texts = await finalTexts(server.url);
    const acked = results.flatMap((r) => r.acked);
    const missing = acked.filter((n) => !texts.has(`load ${n}`)).length;
    const duplicates = [...texts.values()].filter((c) => c > 1).length + (acked.length - new Set(acked).size);
    const samples = results.flatMap((r) => r.samples);
    const during = samples.filter(([at, ms]) => upgrades.some((u) => at <= u.to && at + ms >= u.from));
    const refused: Record<string, number> = {};
    for (const r of results) for (const [code, n] of Object.entries(r.refused)) refused[code] = (refused[code] ?? 0) + n;
    const disconnects = results.flatMap((r) => r.disconnects);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const metric = (name: string) => metrics.split('\n').filter((l) => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);

    const counts = {
      ackedMissingFromFinalState: missing,
      duplicates,
      repliesOutOfOrder: results.reduce((n, r) => n + r.repliesOutOfOrder, 0),
      eventsOutOfOrder: results.reduce((n, r) => n + r.eventsOutOfOrder, 0),
      eventsRepeated: results.reduce((n, r) => n + r.eventsRepeated, 0),
      eventsMissed: results.reduce((n, r) => n + r.eventsMissed, 0),
      unexpectedDisconnects: disconnects.length + (serverExit === null ? 0 : 1),
      refused: Object.values(refused).reduce((a, b) => a + b, 0),
      unanswered: results.reduce((n, r) => n + r.unanswered, 0),
      upgradesRefused: upgrades.filter((u) => u.result !== 'committed').length,
    };
    return {
      options: o,
      seconds: Math.round(elapsed * 10) / 10,
      posts: { sent: results.reduce((n, r) => n + r.sent, 0), acknowledged: acked.length, inFinalState: [...texts.keys()].filter((t) => t.startsWith('load ')).length, perSecond: Math.round(acked.length / elapsed) },
      counts,
      allZero: Object.values(counts).every((n) => n === 0),
      refused,
      disconnects: disconnects.slice(0, 10),
      latencyMs: { overall: stats(samples.map((s) => s[1])), duringUpgrades: stats(during.map((s) => s[1])) },
      upgrades: { count: upgrades.length, committed: upgrades.filter((u) => u.result === 'committed').length, pauseMs: stats(upgrades.map((u) => u.pauseMs)), errors: upgrades.filter((u) => u.error).map((u) => u.error) },
      server: { rateLimited: metric('molt_rate_limited_total'), closedPeers: metric('molt_closed_peers_total'), eventLoopLagMaxMs: Math.round(metric('molt_event_loop_lag_max_seconds') * 1000) },
    };
  } finally {
    for (const g of groups) if (g.exitCode === null) g.kill();
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
  }
}

function parseArgs(argv: string[]): LoadOptions {
  const o = { ...FULL };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, '') as keyof LoadOptions;
    const value = Number(argv[i + 1]);
    if (!(key in o) || !Number.isFinite(value) || value <= 0) throw new Error(`usage: npm run load -- [--clients N] [--rate posts/s] [--seconds S] [--upgrades N] [--groups N]; got ${argv[i]} ${argv[i + 1]}`);
    o[key] = value;
  }
  // Bounded: this is a test on loopback, not a weapon.
  if (o.clients > 2000 || o.rate > 5000 || o.seconds > 600 || o.upgrades > 200 || o.groups > 8) throw new Error('load: at most 2000 clients, 5000 posts/s, 600 s, 200 upgrades, 8 groups');
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const result = await runLoad(parseArgs(process.argv.slice(2)));
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.exit(result.allZero ? 0 : 1);
  } catch (err) {
    process.stderr.write(`load: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
