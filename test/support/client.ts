import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import type { ErrorBody, ServerFrame } from '../../src/transport/protocol.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A real WebSocket client speaking molt's protocol, for tests: every frame it gets is kept. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly socket: WebSocket;
  closed: { code: number; reason: string } | null = null;
  #nextId = 1;
  #waiting = new Map<number, (r: { ok: boolean; data?: unknown; error?: ErrorBody }) => void>();
  #listeners: ((f: ServerFrame) => void)[] = [];

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => {
      const frame = packr.unpack(data) as ServerFrame;
      this.frames.push(frame);
      if (frame.t === 'reply') {
        const resolve = this.#waiting.get(frame.id);
        this.#waiting.delete(frame.id);
        resolve?.(frame);
      }
      for (const l of this.#listeners) l(frame);
    });
    socket.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  /** `localAddress`: the loopback address to connect from (127.x.y.z), to be another client address. */
  static open(url: string, options: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, options);
      const client = new TestClient(socket);
      socket.once('error', reject);
      // Resolve on hello, so the client knows the version before it acts.
      client.#listeners.push(function onHello(f) {
        if (f.t === 'hello') resolve(client);
      });
    });
  }

  send(type: string, fields: Record<string, unknown> = {}): Promise<{ ok: boolean; data?: any; error?: ErrorBody }> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.socket.send(packr.pack({ id, type, ...fields }));
    });
  }

  async ok(type: string, fields: Record<string, unknown> = {}): Promise<any> {
    const r = await this.send(type, fields);
    if (!r.ok) throw new Error(`${type} refused: ${r.error?.code} ${r.error?.message}`);
    return r.data;
  }

  /** Resolves with the first frame (already received or future) that matches. */
  waitFor(match: (f: ServerFrame) => boolean, timeoutMs = 10_000): Promise<ServerFrame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
      this.#listeners.push((f) => {
        if (match(f)) {
          clearTimeout(timer);
          resolve(f);
        }
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Run the operator CLI as a user would, from the project folder, in a child process. */
export function molt(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/molt.js', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Every top-level post in the timeline, following the cursor to the end. */
export async function allPosts(client: TestClient): Promise<any[]> {
  const posts: any[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await client.ok('timeline', { limit: 50, ...(before ? { before } : {}) });
    posts.push(...page.posts);
    if (!page.next) return posts;
    before = page.next;
  }
}

/** Socket budgets high enough never to bind: for tests about something else that send fast. */
export const UNMETERED = {
  commandsPerSec: 1e6,
  commandBurst: 1e6,
  ipCommandsPerSec: 1e6,
  ipCommandBurst: 1e6,
  joinsPerMin: 1e6,
  joinBurst: 1e6,
  ipJoinsPerMin: 1e6,
  ipJoinBurst: 1e6,
} as const;
