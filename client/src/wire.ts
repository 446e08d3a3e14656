/**
 * One WebSocket to /ws carrying msgpack frames, with request/reply by id, a heartbeat, and reconnect
 * with exponential backoff. Knows frames, not the feed: the app decides what a hello or event means.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { ErrorBody, EventFrame, HelloFrame, ServerFrame, UpgradeFrame } from '../../src/transport/protocol.ts';
import { backoffDelay } from './backoff.ts';
import type { CommandResult } from './view-contract.ts';

export type WireState =
  | { readonly kind: 'connecting'; readonly attempt: number }
  | { readonly kind: 'open' }
  | { readonly kind: 'waiting'; readonly attempt: number; readonly retryAt: number };

export interface WireHandlers {
  hello(frame: HelloFrame): void;
  event(frame: EventFrame): void;
  upgrade(frame: UpgradeFrame): void;
  state(state: WireState): void;
  frameError?(error: ErrorBody): void;
}

/** How often to ping, and how long a ping may go unanswered before the socket counts as dead. */
export const HEARTBEAT_MS = 15_000;
export const HEARTBEAT_TIMEOUT_MS = 8_000;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const OFFLINE: CommandResult = { ok: false, error: { code: 'E_OFFLINE', message: 'Not connected to the server right now; try again in a moment.' } };
/** A command sent whose socket went before its answer came: the server may have run it (a post sent
 *  again on "try again" would be there twice; its event comes back with the catch-up). */
const LOST: CommandResult = { ok: false, error: { code: 'E_OFFLINE', message: 'The connection dropped before the server answered: it may have gone through. Check before sending it again.' } };

export class Wire {
  private socket: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, (result: CommandResult) => void>();
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  /** Callers of whenOpen waiting for the socket to open. */
  private readonly opening = new Set<() => void>();

  constructor(
    private readonly url: string,
    private readonly on: WireHandlers,
  ) {}

  get open(): boolean {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.close();
  }

  /** Drop the socket as if the network failed (tests and the "reconnect now" button use this). */
  drop(): void {
    const socket = this.socket;
    if (socket) this.lost(socket);
    socket?.close();
  }

  /** Skip the backoff wait and reconnect now. */
  retryNow(): void {
    if (this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  /** Resolves true once the socket is open (at once if it is), or false after `ms`. */
  whenOpen(ms: number): Promise<boolean> {
    if (this.open) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.opening.delete(done);
        resolve(this.open);
      };
      const timer = setTimeout(done, ms);
      this.opening.add(done);
    });
  }

  /** Send a command; resolves with its reply, or E_OFFLINE when the socket is not open, or closes
   *  before the reply (then saying that it may have gone through). */
  request(type: string, fields: Record<string, unknown> = {}): Promise<CommandResult> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.resolve(OFFLINE);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      // msgpackr types its output as a Node Buffer; in the browser it is a plain Uint8Array.
      socket.send(packr.pack({ ...fields, id, type }) as unknown as Uint8Array<ArrayBuffer>);
    });
  }

  private connect(): void {
    this.on.state({ kind: 'connecting', attempt: this.attempt });
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.on.state({ kind: 'open' });
      this.startHeartbeat(socket);
      for (const done of [...this.opening]) done();
    };
    socket.onmessage = (msg) => {
      let frame: ServerFrame;
      try {
        frame = unpackr.unpack(new Uint8Array(msg.data as ArrayBuffer)) as ServerFrame;
      } catch {
        return;
      }
      this.dispatch(frame);
    };
    socket.onclose = () => this.lost(socket);
  }

  /**
   * `socket` is gone: what waited on it is answered E_OFFLINE, and a new one is tried. Called on its
   * close, or before it, when it stopped answering: on a dead network the close handshake never
   * ends, and the page would say "Live" until the network came back.
   */
  private lost(socket: WebSocket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.stopHeartbeat();
    for (const resolve of this.pending.values()) resolve(LOST);
    this.pending.clear();
    if (!this.stopped) this.scheduleRetry();
  }

  private dispatch(frame: ServerFrame): void {
    switch (frame.t) {
      case 'hello':
        return this.on.hello(frame);
      case 'event':
        return this.on.event(frame);
      case 'upgrade':
        return this.on.upgrade(frame);
      case 'reply': {
        const resolve = this.pending.get(frame.id);
        if (!resolve) return;
        this.pending.delete(frame.id);
        return resolve(frame.ok ? { ok: true, data: frame.data } : { ok: false, error: frame.error });
      }
      case 'error':
        return this.on.frameError?.(frame.error);
    }
  }

  private scheduleRetry(): void {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.on.state({ kind: 'waiting', attempt: this.attempt, retryAt: Date.now() + delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private startHeartbeat(socket: WebSocket): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      let answered = false;
      void this.request('$ping').then(() => {
        answered = true;
      });
      setTimeout(() => {
        if (answered || this.socket !== socket) return;
        this.lost(socket);
        socket.close();
      }, HEARTBEAT_TIMEOUT_MS);
    }, HEARTBEAT_MS);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
