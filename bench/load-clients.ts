/**
 * One group of load-test clients, in a process of its own (bench/load.ts starts one or more and talks
 * to them over IPC). Each client is a real WebSocket speaking molt's protocol: it joins, then posts
 * at a steady pace (open loop: it does not wait for a reply before the next post), and checks what
 * it receives: replies in the order sent, events numbered one after another with none missed or
 * repeated. It reports every count, the latencies, and the posts acknowledged.
 */
import { Packr } from 'msgpackr';
import WebSocket from 'ws';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const now = () => performance.timeOrigin + performance.now();

export interface GroupStart {
  url: string;
  /** Client numbers of this group. */
  clients: number[];
  /** Posts per second per client. */
  rate: number;
  /** Handle prefix: unique per run. */
  prefix: string;
}

export interface GroupResult {
  clients: number;
  sent: number;
  acked: string[];
  refused: Record<string, number>;
  unanswered: number;
  disconnects: { client: number; code: number; reason: string }[];
  repliesOutOfOrder: number;
  eventsOutOfOrder: number;
  eventsRepeated: number;
  eventsMissed: number;
  /** [sent at (epoch ms), latency ms] per answered post. */
  samples: [number, number][];
}

interface Client {
  n: number;
  ws: WebSocket;
  nextId: number;
  waiting: Map<number, { at: number; nonce: string }>;
  lastReplyId: number;
  lastSeq: number;
  nextPostAt: number;
  posted: number;
  finished: boolean;
}

const result: GroupResult = { clients: 0, sent: 0, acked: [], refused: {}, unanswered: 0, disconnects: [], repliesOutOfOrder: 0, eventsOutOfOrder: 0, eventsRepeated: 0, eventsMissed: 0, samples: [] };
const clients: Client[] = [];
let posting = false;
let stopping = false;

function send(c: Client, type: string, fields: Record<string, unknown>, nonce = ''): number {
  const id = ++c.nextId;
  c.waiting.set(id, { at: now(), nonce });
  c.ws.send(packr.pack({ id, type, ...fields }));
  return id;
}

function open(start: GroupStart, n: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(start.url);
    const c: Client = { n, ws, nextId: 0, waiting: new Map(), lastReplyId: 0, lastSeq: -1, nextPostAt: 0, posted: 0, finished: false };
    let joined = false;
    ws.on('message', (data: Buffer) => {
      const f = packr.unpack(data) as { t: string; id?: number; ok?: boolean; seq?: number; error?: { code: string }; phase?: string; hello?: { seq: number } };
      if (f.t === 'hello') {
        c.lastSeq = f.seq!;
        send(c, 'join', { handle: `${start.prefix}${n}` });
      } else if (f.t === 'event') {
        const seq = f.seq!;
        if (seq === c.lastSeq) result.eventsRepeated++;
        else if (seq < c.lastSeq) result.eventsOutOfOrder++;
        else {
          if (seq > c.lastSeq + 1) result.eventsMissed += seq - c.lastSeq - 1;
          c.lastSeq = seq;
        }
      } else if (f.t === 'reply') {
        const id = f.id!;
        if (id <= c.lastReplyId) result.repliesOutOfOrder++;
        c.lastReplyId = Math.max(c.lastReplyId, id);
        const w = c.waiting.get(id);
        c.waiting.delete(id);
        if (!w) return;
        if (!joined) {
          joined = true;
          if (!f.ok) return reject(new Error(`client ${n} could not join: ${f.error?.code}`));
          return resolve(c);
        }
        if (f.ok) {
          result.acked.push(w.nonce);
          result.samples.push([w.at, now() - w.at]);
        } else {
          const code = f.error?.code ?? '?';
          result.refused[code] = (result.refused[code] ?? 0) + 1;
        }
      } else if (f.t === 'error') {
        result.refused['frame:' + (f.error?.code ?? '?')] = (result.refused['frame:' + (f.error?.code ?? '?')] ?? 0) + 1;
      }
    });
    ws.on('close', (code, reason) => {
      c.finished = true;
      if (!stopping) result.disconnects.push({ client: n, code, reason: reason.toString() });
    });
    ws.on('error', (err) => {
      if (!joined) reject(err);
    });
  });
}

async function start(s: GroupStart): Promise<void> {
  result.clients = s.clients.length;
  // Open in small waves, as people arrive, not all in one instant.
  for (let i = 0; i < s.clients.length; i += 25) clients.push(...(await Promise.all(s.clients.slice(i, i + 25).map((n) => open(s, n)))));
}

function go(at: number, rate: number): void {
  const interval = 1000 / rate;
  // Each client starts at a random phase: together they post at a steady aggregate rate.
  for (const c of clients) c.nextPostAt = at + Math.random() * interval;
  posting = true;
  const tick = () => {
    if (!posting) return;
    const t = now();
    for (const c of clients) {
      while (!c.finished && c.nextPostAt <= t) {
        const nonce = `${c.n}-${++c.posted}`;
        send(c, 'post', { text: `load ${nonce}` }, nonce);
        result.sent++;
        c.nextPostAt += interval;
      }
    }
    setTimeout(tick, 5);
  };
  tick();
}

async function finish(timeoutMs: number): Promise<GroupResult> {
  posting = false;
  const until = now() + timeoutMs;
  while (now() < until && clients.some((c) => !c.finished && c.waiting.size > 0)) await new Promise((r) => setTimeout(r, 20));
  result.unanswered = clients.reduce((n, c) => n + c.waiting.size, 0);
  stopping = true;
  for (const c of clients) c.ws.close();
  return result;
}

process.on('message', (m: { start?: GroupStart; go?: { at: number; rate: number }; finish?: { timeoutMs: number } }) => {
  if (m.start) start(m.start).then(() => process.send!({ ready: true }), (err: Error) => process.send!({ failed: err.message }));
  if (m.go) go(m.go.at, m.go.rate);
  if (m.finish) finish(m.finish.timeoutMs).then((r) => process.send!({ result: r }, () => process.exit(0)));
});
process.on('disconnect', () => process.exit(0));
