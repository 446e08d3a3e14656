/**
 * End to end over loopback: N real WebSocket clients each send M posts, one at a time, through a real
 * molt server, which answers each and broadcasts it to every client. The floor is a bare ws server that
 * does the same fan-out with no kernel and no feed: it decodes each frame, sends an event frame to every
 * client and a reply to the sender. Bounded in count; loopback only.
 */
import type { AddressInfo } from 'node:net';
import { Packr } from 'msgpackr';
import WebSocket, { WebSocketServer } from 'ws';
import { startServer } from '../src/server.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

async function drive(url: string, clients: number, perClient: number, setup?: (send: (m: object) => Promise<any>, i: number) => Promise<void>) {
  const sockets = await Promise.all(
    Array.from({ length: clients }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    sockets.map(async (ws, i) => {
      let id = 0;
      const waiting = new Map<number, (v: any) => void>();
      ws.on('message', (data: Buffer) => {
        const f = packr.unpack(data) as { t?: string; id?: number };
        if ((f.t === 'reply' || f.t === undefined) && f.id !== undefined) waiting.get(f.id)?.(f);
      });
      const send = (m: object) => new Promise<any>((resolve) => {
        const n = ++id;
        waiting.set(n, resolve);
        ws.send(packr.pack({ id: n, ...m }));
      });
      await setup?.(send, i);
      for (let k = 0; k < perClient; k++) {
        const t = performance.now();
        const r = await send({ type: 'post', text: `bench ${i}-${k}` });
        if (r.ok === false) throw new Error(JSON.stringify(r));
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const ws of sockets) ws.close();
  latencies.sort((a, b) => a - b);
  return {
    commands_per_s: Math.round((clients * perClient) / seconds),
    p50_ms: Math.round(latencies[Math.floor(latencies.length * 0.5)]! * 1000) / 1000,
    p99_ms: Math.round(latencies[Math.floor(latencies.length * 0.99)]! * 1000) / 1000,
  };
}

export async function wsBench(clients = 20, perClient = 250) {
  // Floor: the transport alone.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  let seq = 0;
  wss.on('connection', (ws) => ws.on('message', (data: Buffer) => {
    const m = packr.unpack(data) as { id: number; text: string };
    const event = packr.pack({ t: 'event', seq: ++seq, version: 1, event: { type: 'post', post: { text: m.text } } });
    for (const client of wss.clients) client.send(event);
    ws.send(packr.pack({ t: 'reply', id: m.id, ok: true, data: null }));
  }));
  await new Promise((r) => wss.once('listening', r));
  const floor = await drive(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, clients, perClient);
  await new Promise((r) => wss.close(r));

  // Budgets off: this measures throughput, not what one client is allowed.
  const unmetered = { commandsPerSec: 1e9, commandBurst: 1e9, ipCommandsPerSec: 1e9, ipCommandBurst: 1e9, ipJoinBurst: 1e9 };
  const server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: 'bench-token-0123456789', logLevel: 'silent', ws: unmetered });
  const molt = await drive(server.wsUrl, clients, perClient, async (send, i) => {
    const r = await send({ type: 'join', handle: `bench_${i}` });
    if (!r.ok) throw new Error(JSON.stringify(r));
  });
  await server.close();
  return {
    clients,
    commands: clients * perClient,
    floor_bare_ws: floor,
    molt,
    ratio_throughput_molt_vs_floor: Math.round((molt.commands_per_s / floor.commands_per_s) * 100) / 100,
  };
}
