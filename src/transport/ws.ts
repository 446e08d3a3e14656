import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ERRORS } from '../kernel/errors.ts';
import type { Kernel, Result } from '../kernel/kernel.ts';
import { WINDOW_MS, type Aside, type AddressAside } from './aside.ts';
import { Addresses, Bucket, Budget, addressResolver, spend, type BudgetName } from './budget.ts';
import { NEVER_USED, decode, encode, encodeWith } from './codec.ts';
import { originAllowed } from './origin.ts';
import { SAFE_HEADERS, endWithError } from './http.ts';
import { Last } from './last.ts';
import type { ErrorBody, ServerFrame, UpgradeFrame } from './protocol.ts';
import { framesTo, replyFrame, sharedPart } from './frames.ts';

/**
 * The WebSocket adapter: msgpack frames in, kernel.dispatch, msgpack frames out. It owns sockets and
 * what is fair between them:
 *
 * - replies leave in the order their frames arrived, whatever path answered them (the kernel, a
 *   malformed frame, a budget): each frame takes a place in its socket's reply line when it is read;
 * - budgets (budget.ts): commands and joins per connection and per address, refused with
 *   E_RATE_LIMITED and a retry hint; connections per address; a socket that keeps sending refused
 *   frames (malformed or over budget) is closed with 1008;
 * - command types whose handler keeps running out its time on one address's commands, refused for
 *   that address with E_CIRCUIT_OPEN (aside.ts);
 * - at most `maxInFlight` commands read and not yet answered per socket: past that the socket is not
 *   read until they are (TCP holds the rest), so one socket cannot fill the kernel's queue;
 * - liveness: a ping every `pingIntervalMs`; a peer that has not answered by the next one is cut off,
 *   so a dead peer leaves within two intervals;
 * - the Origin allowlist, refused with HTTP 403 before the WebSocket opens;
 * - a client that stops reading (more than `maxBufferedBytes` unsent, or an eighth of that while all
 *   clients together leave more than `maxBufferedTotal` unsent) is closed with 1008.
 *
 * Every limit has a name and a default here; src/config.ts reads them from the environment.
 */
export interface WsLimits {
  /** Largest frame a client may send (bytes); larger closes the socket with 1009. */
  maxPayload: number;
  /** Unsent bytes a socket may pile up before it is closed with 1008 as too slow. */
  maxBufferedBytes: number;
  /**
   * Unsent bytes all sockets together may pile up: past it, a socket with more than an eighth of
   * `maxBufferedBytes` unsent is closed as too slow when it is sent more.
   */
  maxBufferedTotal: number;
  /**
   * Scrapes of `/metrics` one address may ask for a second, after a burst of `metricsBurst` (one costs
   * milliseconds of the thread that serves the feed): past it, 429 `E_RATE_LIMITED` with `retryMs`.
   */
  metricsPerSec: number;
  metricsBurst: number;
  /** How long a socket we close has to answer the close before it is cut off (ms). */
  closeGraceMs: number;
  /** Interval between pings (ms); a peer that misses one is closed at the next. */
  pingIntervalMs: number;
  /** Commands per second per connection, and the burst it may send at once. */
  commandsPerSec: number;
  commandBurst: number;
  /** The same, shared by all connections from one address. */
  ipCommandsPerSec: number;
  ipCommandBurst: number;
  /** Joins per minute per connection, and the burst. */
  joinsPerMin: number;
  joinBurst: number;
  /** The same, per address. */
  ipJoinsPerMin: number;
  ipJoinBurst: number;
  /** Open connections per address. */
  maxConnectionsPerIp: number;
  /** Refused frames (malformed, or over budget) a connection may send in a minute before it is closed with 1008. */
  maxRefusedFrames: number;
  /** Commands read from one socket and not yet answered, before the socket is read no further. */
  maxInFlight: number;
}

export interface WsOptions extends WsLimits {
  /** Origins whose pages may open /ws: exact origins, 'self' (same host as the request), or '*'. */
  origins: readonly string[];
  /**
   * Reverse proxies whose X-Forwarded-For is believed (addresses, CIDR ranges, or `loopback`,
   * `linklocal`, `uniquelocal`): a client's address is the nearest one in that header that is not one
   * of them. None by default: the socket's own address.
   */
  trustProxy: readonly string[];
  log?: { warn(obj: object, msg?: string): void };
  observe?: WsObserver;
}

export type CloseReason = 'dead' | 'slow' | 'refused_frames' | 'too_many_connections';

export interface WsObserver {
  rateLimited?(scope: 'connection' | 'address', budget: BudgetName): void;
  /** Command type `type` was set aside for one address (aside.ts). */
  aside?(type: string): void;
  closed?(reason: CloseReason): void;
}

export const DEFAULT_WS: Readonly<WsLimits> = Object.freeze({
  maxPayload: 64 * 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxBufferedTotal: 256 * 1024 * 1024,
  metricsPerSec: 1,
  metricsBurst: 10,
  closeGraceMs: 2_000,
  pingIntervalMs: 20_000,
  commandsPerSec: 20,
  commandBurst: 60,
  ipCommandsPerSec: 200,
  ipCommandBurst: 400,
  joinsPerMin: 6,
  joinBurst: 3,
  ipJoinsPerMin: 30,
  ipJoinBurst: 20,
  maxConnectionsPerIp: 64,
  maxRefusedFrames: 200,
  maxInFlight: 128,
});

export function resolveWs(partial: Partial<WsOptions> = {}): WsOptions {
  const opts: WsOptions = { ...DEFAULT_WS, origins: ['self'], trustProxy: [], ...partial };
  for (const name of Object.keys(DEFAULT_WS) as (keyof WsLimits)[]) {
    const value = opts[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`ws limit ${name} = ${String(value)}; expected a positive number`);
  }
  return opts;
}

/** The refusal of a command type, or of all of them (`all`), set aside for the client's address (aside.ts). */
function setAside(type: string, ms: number, all: boolean, aside: Aside): ErrorBody {
  const t = type.slice(0, 40);
  return {
    code: 'E_CIRCUIT_OPEN',
    message: all
      ? `commands from your address keep running past the handler's time limit (${aside.allAfter} of any types within ${WINDOW_MS / 1000} s, then any one), so every command from your address is set aside for ${Math.ceil(ms / 1000)} s, then tried again; nothing was applied`
      : `'${t}' commands from your address keep running past the handler's time limit (${aside.after} within ${WINDOW_MS / 1000} s, then any one), so '${t}' is set aside for your address for ${Math.ceil(ms / 1000)} s, then tried again. Your other commands are served; nothing was applied`,
    retryMs: ms,
  };
}

/**
 * One WebSocket frame (binary, final, unmasked, as a server sends it) holding `payload`. A frame for
 * many sockets (an event) is framed once and the same bytes written to each: the costly part of a
 * broadcast is then one write per socket, corked with the others of its turn.
 */
const framed = new Last<ServerFrame, Buffer>();
function wsFrame(frame: ServerFrame): Buffer {
  // a reply, an error or a connection's own committed frame goes to one socket: nothing to remember
  const base = sharedPart(frame);
  const once = frame.t === 'reply' || frame.t === 'error' || base !== undefined;
  let bytes = once ? undefined : framed.get(frame);
  if (bytes) return bytes;
  const payload = base !== undefined ? encodeWith(base, 'hello', (frame as UpgradeFrame).hello) : encode(frame);
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  bytes = Buffer.allocUnsafe(head + n);
  bytes[0] = 0x82; // FIN, opcode 2 (binary)
  if (n < 126) bytes[1] = n;
  else if (n < 65536) {
    bytes[1] = 126;
    bytes.writeUInt16BE(n, 2);
  } else {
    bytes[1] = 127;
    bytes.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(bytes, head);
  if (!once) framed.set(frame, bytes);
  return bytes;
}

/** Frames one socket may have read as commands in one turn of the event loop; the rest wait. */
const READ_PER_TURN = 4;

/** The place of a reply not yet known in a socket's reply line. */
const WAITING = Symbol('waiting');
/** A frame that is not a binary msgpack message (decoded values are anything else, undefined too). */
const MALFORMED = Symbol('malformed');

interface Peer {
  readonly socket: WebSocket;
  /** Replies in the order their frames arrived; WAITING until known. Frame number n is at n - base. */
  replies: (ServerFrame | typeof WAITING)[];
  base: number;
  head: number;
  alive: boolean;
  paused: boolean;
  /** Our close is decided: nothing more is read, the close goes out after the replies owed. */
  closing: boolean;
  closeWith: { code: number; reason: string } | null;
}

/**
 * A Sec-WebSocket-Extensions header as RFC 6455 (9.1) writes it: extensions separated by commas, each a
 * token with `;`-separated parameters, a parameter's value a token or a quoted string holding one.
 */
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const PARAM = `${TOKEN}+(?:[ \\t]*=[ \\t]*(?:${TOKEN}+|"(?:\\\\?${TOKEN})+"))?`;
const EXTENSION = `${TOKEN}+(?:[ \\t]*;[ \\t]*${PARAM})*`;
const EXTENSIONS = new RegExp(`^[ \\t]*${EXTENSION}(?:[ \\t]*,[ \\t]*${EXTENSION})*[ \\t]*$`);

export function attachWebSocket(kernel: Kernel, options: Partial<WsOptions> = {}) {
  const opts = resolveWs(options);
  const observe = opts.observe ?? {};
  // ws hands over every frame of a TCP read at once; a socket reads at most READ_PER_TURN of them in
  // one turn of the event loop and the rest wait for the next turns (see `read` below), so a socket
  // that sent a thousand frames in one read does not get them all decoded before anyone else. (ws's
  // own allowSynchronousEvents: false defers every frame to a turn of its own: a setImmediate and a
  // batch per frame, and a reply written alone: measured 0.44x a bare echo per CPU-second, 0.58x with
  // 4 a turn; 8 a turn gave 0.68x but let a flood of posts slow a quiet socket past what
  // test/alone/fuzz.test.ts allows.)
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false, allowSynchronousEvents: true });
  // The handshake's 101 is an answer too: it carries the headers every other answer has.
  const safe = Object.entries(SAFE_HEADERS).map(([k, v]) => `${k}: ${v}`);
  wss.on('headers', (headers: string[]) => void headers.push(...safe));
  // A handshake ws cannot read (a method other than GET, a missing or bad key, version, subprotocol
  // list or extensions header): in molt's error shape with the usual headers, not ws's plain text.
  wss.on('wsClientError', (err: Error, sock: Duplex, req: IncomingMessage) => {
    if (req.method !== 'GET') endWithError(sock, 404, 'E_NOT_FOUND', `no ${String(req.method).slice(0, 20)} /ws here: a WebSocket opens with GET`);
    else endWithError(sock, 400, 'E_BAD_REQUEST', `the request cannot be read: ${err.message.slice(0, 200)}`);
  });
  const rates = (ip: boolean) =>
    ip
      ? { commandsPerSec: opts.ipCommandsPerSec, commandBurst: opts.ipCommandBurst, joinsPerMin: opts.ipJoinsPerMin, joinBurst: opts.ipJoinBurst }
      : { commandsPerSec: opts.commandsPerSec, commandBurst: opts.commandBurst, joinsPerMin: opts.joinsPerMin, joinBurst: opts.joinBurst };
  const addresses = new Addresses(rates(true), kernel.breaker);
  const addressOf = addressResolver(opts.trustProxy);
  const peers = new Set<Peer>();
  /** How to close each peer after the replies it is owed. */
  const closers = new Map<Peer, (code: number, reason: string) => void>();
  let stopping = false;

  // Frames for one socket that leave in the same turn go out in one write: cork each socket at its
  // first frame and uncork once the turn's work is done (a tick queued from a microtask runs after all
  // microtasks). What a socket was given this turn is not what it left unread: `corked` counts it.
  const corked = new Map<Duplex, number>();
  const uncorkAll = () => {
    const all = [...corked.keys()];
    corked.clear();
    for (const raw of all) raw.uncork();
  };
  const cork = (socket: WebSocket, bytes: number): void => {
    const raw = (socket as unknown as { _socket?: Duplex })._socket;
    if (!raw) return;
    const before = corked.get(raw);
    if (before === undefined) {
      if (corked.size === 0) queueMicrotask(() => process.nextTick(uncorkAll));
      raw.cork();
    }
    corked.set(raw, (before ?? 0) + bytes);
  };
  const thisTurn = (socket: WebSocket): number => corked.get((socket as unknown as { _socket?: Duplex })._socket as Duplex) ?? 0;
  // What all sockets leave unsent together, summed again at most every 50 ms, and only for a socket
  // that is itself behind: each socket's own bound times many sockets (64 an address) is gigabytes.
  let unsentTotal = 0;
  let unsentAt = -Infinity;
  const overTotal = (): boolean => {
    const now = performance.now();
    if (now - unsentAt > 50) {
      unsentAt = now;
      unsentTotal = 0;
      for (const p of peers) unsentTotal += p.socket.bufferedAmount;
    }
    return unsentTotal > opts.maxBufferedTotal;
  };

  const liveness = setInterval(() => {
    for (const peer of peers) {
      // A socket we stopped reading cannot show us its pong: its silence is ours.
      if (peer.closing || peer.paused) continue;
      if (!peer.alive) {
        observe.closed?.('dead');
        peer.socket.terminate();
        continue;
      }
      peer.alive = false;
      peer.socket.ping();
    }
    addresses.sweep(performance.now());
  }, opts.pingIntervalMs);
  liveness.unref();

  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    const ip = addressOf(req);
    const address = addresses.get(ip, performance.now());
    if (address.connections >= opts.maxConnectionsPerIp) {
      observe.closed?.('too_many_connections');
      // The hint: a place held by a peer that died is free within two ping intervals.
      socket.send(encode({ t: 'error', error: { code: 'E_TOO_MANY_CONNECTIONS', message: `${ERRORS.E_TOO_MANY_CONNECTIONS}: at most ${opts.maxConnectionsPerIp}; close another tab or try again later`, retryMs: 2 * opts.pingIntervalMs } }));
      socket.close(1008, 'too many connections from your address');
      setTimeout(() => socket.terminate(), opts.closeGraceMs).unref();
      return;
    }
    address.connections++;
    const budget = new Budget(rates(false), performance.now());
    const refusals = new Bucket(opts.maxRefusedFrames / 60, opts.maxRefusedFrames, performance.now());
    const budgets = [
      { scope: 'connection' as const, budget },
      { scope: 'address' as const, budget: address.budget },
    ];
    const peer: Peer = { socket, replies: [], base: 0, head: 0, alive: true, paused: false, closing: false, closeWith: null };
    peers.add(peer);

    let dropped = false;
    /** The peer's socket closed. */
    let gone = false;
    const send = (frame: ServerFrame) => {
      if (dropped || socket.readyState !== socket.OPEN) return;
      const unsent = socket.bufferedAmount - thisTurn(socket);
      if (unsent > opts.maxBufferedBytes || (unsent > opts.maxBufferedBytes / 8 && overTotal())) {
        // A client that stopped reading: stop feeding it now, say why behind what it has not read,
        // and cut it off if it does not read that either.
        dropped = true;
        peer.closing = true;
        observe.closed?.('slow');
        kernel.disconnect(conn);
        socket.close(1008, 'too slow: too many frames waiting');
        setTimeout(() => socket.terminate(), opts.closeGraceMs).unref();
        return;
      }
      let bytes: Buffer;
      try {
        bytes = wsFrame(frame);
      } catch (err) {
        opts.log?.warn({ frame: frame.t, err: String(err) }, 'frame did not encode');
        return;
      }
      const raw = (socket as unknown as { _socket?: Duplex })._socket;
      if (!raw) return;
      cork(socket, bytes.length);
      // ws would frame the same bytes again for each socket; without compression its sender writes
      // straight to the socket, and so do we (a frame is never written after our close: OPEN above).
      raw.write(bytes);
    };

    /** Send the replies whose turn has come; then close, if a close waits for them. */
    const flush = () => {
      const line = peer.replies;
      while (peer.head < line.length && line[peer.head] !== WAITING) {
        const frame = line[peer.head] as ServerFrame;
        line[peer.head++] = WAITING; // drop the reference
        send(frame);
      }
      if (peer.head === line.length || peer.head > 1024) {
        peer.replies = line.slice(peer.head);
        peer.base += peer.head;
        peer.head = 0;
      }
      const owed = peer.replies.length - peer.head;
      if (peer.paused && owed <= opts.maxInFlight / 2) {
        peer.paused = false;
        socket.resume();
      }
      // the peer closed with commands read and not yet answered (or received and not yet read): its
      // connection stays bound until they are
      if (gone && owed === 0 && later.length === 0) kernel.disconnect(conn);
      if (peer.closeWith && owed === 0 && socket.readyState === socket.OPEN) {
        socket.close(peer.closeWith.code, peer.closeWith.reason);
        setTimeout(() => socket.terminate(), opts.closeGraceMs).unref();
      }
    };
    const reserve = (): number => {
      const at = peer.base + peer.replies.length;
      peer.replies.push(WAITING);
      if (!peer.paused && peer.replies.length - peer.head >= opts.maxInFlight) {
        peer.paused = true;
        socket.pause();
      }
      return at;
    };
    const answer = (at: number, frame: ServerFrame) => {
      peer.replies[at - peer.base] = frame;
      flush();
    };
    closers.set(peer, (code, reason) => {
      if (peer.closeWith) return;
      // A stop answers what this socket sent before the close, the frames still waiting for their
      // turn included (the kernel refuses them now: E_SHUTTING_DOWN); a close for misbehaviour does not.
      if (code === 1001 && later.length > 0) {
        const rest = later;
        later = [];
        for (const f of rest) read(f.data, f.isBinary);
      }
      peer.closing = true;
      peer.closeWith = { code, reason };
      kernel.disconnect(conn);
      // Read again, to see the peer's answer to our close (what else comes is not read as commands).
      if (peer.paused) {
        peer.paused = false;
        socket.resume();
      }
      // Whatever happens, this socket is gone after the grace: replies owed, then close, then cut.
      setTimeout(() => socket.terminate(), 2 * opts.closeGraceMs).unref();
      flush();
    });

    /**
     * A frame refused here: answered in its place. A malformed frame is a strike, and so is a frame
     * refused for its budget that came back before half the wait an earlier refusal gave; too many
     * strikes and the socket is closed. Half: a client that waits as told must never be struck, and
     * its timer can fire early by however stale its event loop's clock was when it set it (on a busy
     * machine, milliseconds), while a client that ignores retryMs comes back at once.
     */
    let strikeBefore = 0;
    const strike = (now: number) => {
      // (a socket the peer closed has nothing left to close: its frames are read, and answered nowhere)
      if (gone) return;
      if (refusals.wait(now) > 0) {
        observe.closed?.('refused_frames');
        closers.get(peer)!(1008, 'too many refused frames (malformed or over budget)');
      } else refusals.take(now);
    };
    const refuse = (at: number, id: number | null, error: ErrorBody, now: number) => {
      answer(at, id === null ? { t: 'error', error } : { t: 'reply', id, ok: false, error });
      const struck = error.retryMs === undefined || now < strikeBefore;
      if (error.retryMs !== undefined) strikeBefore = Math.max(strikeBefore, now + error.retryMs / 2);
      if (struck) strike(now);
    };

    const conn = kernel.connect(framesTo(send));
    /** Frames that arrived past this turn's share, in order; read in the next turns. */
    let later: { data: RawData; isBinary: boolean }[] = [];
    let readThisTurn = 0;
    /** This socket has sent a frame that did not decode. */
    let malformed = false;
    const nextTurn = () => {
      readThisTurn = 0;
      // (a frame read after our close is dropped without counting: the rest go with it)
      while (later.length > 0 && readThisTurn < READ_PER_TURN) {
        const f = later.shift()!;
        read(f.data, f.isBinary);
      }
      if (later.length > 0 || readThisTurn > 0) setImmediate(nextTurn);
    };
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (peer.closing) return; // after our close: not applied, not answered (the close says so)
      peer.alive = true;
      if (readThisTurn === 0 && later.length === 0) setImmediate(nextTurn);
      if (later.length > 0 || readThisTurn >= READ_PER_TURN) {
        later.push({ data, isBinary });
        // frames waiting count as in flight: past the bound, stop reading (flush resumes as replies leave)
        if (!peer.paused && later.length >= opts.maxInFlight) {
          peer.paused = true;
          socket.pause();
        }
        return;
      }
      read(data, isBinary);
    });
    function read(data: RawData, isBinary: boolean): void {
      // (after our close nobody is answered: not applied. After the peer's, what it sent before its
      // close is: it waited for its turn, and the replies go nowhere)
      if (peer.closing) return;
      readThisTurn++;
      const now = performance.now();
      const at = reserve();
      let frame: unknown = MALFORMED;
      if (isBinary) {
        try {
          frame = decode(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data), malformed);
          if (frame === NEVER_USED) frame = MALFORMED; // the byte msgpack never uses, alone
        } catch {
          malformed = true; // from now on without a stack (codec.ts): this socket sends garbage
        }
      }
      if (frame === MALFORMED) {
        for (const b of budgets) if (b.budget.commands.wait(now) === 0) b.budget.commands.take(now); // counts against the same budget
        return refuse(at, null, { code: 'E_BAD_FRAME', message: `${ERRORS.E_BAD_FRAME}: send binary msgpack maps` }, now);
      }
      const id = (frame as { id?: unknown } | null)?.id;
      const usable = Number.isSafeInteger(id) && !Object.is(id, -0);
      if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || !usable || typeof (frame as { type?: unknown }).type !== 'string') {
        for (const b of budgets) if (b.budget.commands.wait(now) === 0) b.budget.commands.take(now);
        return refuse(at, usable ? (id as number) : null, { code: 'E_BAD_COMMAND', message: ERRORS.E_BAD_COMMAND }, now);
      }
      const { id: _id, ...command } = frame as { id: number; type: string };
      const over = spend(budgets, command.type === 'join', now);
      if (over) {
        observe.rateLimited?.(over.scope, over.name);
        const per = over.scope === 'connection' ? 'this connection' : 'your address';
        const what = over.name === 'joins' ? `joins (at most ${over.scope === 'connection' ? opts.joinBurst : opts.ipJoinBurst} at once, then ${over.scope === 'connection' ? opts.joinsPerMin : opts.ipJoinsPerMin} a minute for ${per})` : `commands (at most ${over.scope === 'connection' ? opts.commandBurst : opts.ipCommandBurst} at once, then ${over.scope === 'connection' ? opts.commandsPerSec : opts.ipCommandsPerSec} a second for ${per})`;
        return refuse(at, id as number, { code: 'E_RATE_LIMITED', message: `too many ${what}; try again in ${over.retryMs} ms`, retryMs: over.retryMs }, now);
      }
      // (set aside for everyone too: the kernel says so, and why)
      // ($ping and $since are the kernel's own: never set aside)
      const aside = command.type.startsWith('$') ? null : address.aside.refuses(command.type, kernel.release, now);
      if (aside !== null && aside.ms > 0 && kernel.setAside(command.type) === 0) return answer(at, { t: 'reply', id: id as number, ok: false, error: setAside(command.type, aside.ms, aside.all, address.aside) });
      kernel.submit(conn, command, (r: Result) => {
        if (!r.ok && r.error.code === 'E_HANDLER_TIMEOUT') timedOut(command.type);
        answer(at, replyFrame(id as number, command.type, r));
        // a command the kernel found malformed (not plain data, a bad $since) is a refused frame too
        if (!r.ok && r.error.code === 'E_BAD_COMMAND') strike(now);
      });
    }
    /** A command of `type` from this address ran out its time: set the type aside for the address? */
    function timedOut(type: string): void {
      const { ms, all } = address.aside.timedOut(type, kernel.release, performance.now());
      if (ms === 0) return;
      if (all) opts.log?.warn({ address: ip, command: type, ms }, 'every command set aside for one address: handlers keep running out their time on commands from there, of many types');
      else opts.log?.warn({ address: ip, command: type, ms }, 'command type set aside for one address: its handler keeps running out its time on commands from there');
      observe.aside?.(type);
    }
    socket.on('pong', () => (peer.alive = true));
    socket.on('close', () => {
      gone = true;
      peers.delete(peer);
      closers.delete(peer);
      address.connections--;
      // Commands it sent and we read before its close are served as they would have been with the
      // socket open: signed in as it was. The connection leaves (and its user, presence) once the last
      // of them is answered (flush). Before, it left at once: a command waiting behind a cut-over (or a
      // busy batch) then ran signed out, and a post sent right before a page closed during an upgrade's
      // pause was refused not_joined, where the same post without an upgrade landed. So are those it
      // sent before its close that wait for their turn to be read (`later`, READ_PER_TURN a turn): they
      // were dropped, and of 40 posts sent at once before a close only the first 16 landed.
      if (peer.replies.length - peer.head === 0 && later.length === 0) kernel.disconnect(conn);
    });
    socket.on('error', () => socket.terminate());
  });


  return {
    wss,
    /** Open connections. */
    get peers(): number {
      return peers.size;
    },
    /** Command types set aside for one address (aside.ts), for the operator's status. */
    asides(): AddressAside[] {
      return addresses.asides(kernel.release, performance.now());
    },
    /** Hand an HTTP upgrade on /ws to the WebSocket server, if its origin may and we are not stopping. */
    handleUpgrade(req: IncomingMessage, sock: Duplex, head: Buffer) {
      if (stopping) return endWithError(sock, 503, 'E_SHUTTING_DOWN', ERRORS.E_SHUTTING_DOWN);
      const origin = req.headers.origin;
      if (!originAllowed(origin, req.headers.host, opts.origins))
        return endWithError(sock, 403, 'E_ORIGIN', `a page from ${JSON.stringify(String(origin).slice(0, 100))} may not open this WebSocket`);
      // ws reads Sec-WebSocket-Extensions only when it offers an extension, and molt offers none: a
      // broken one is refused here, as ws refuses a broken key, version or subprotocol list
      const extensions = req.headers['sec-websocket-extensions'];
      if (extensions !== undefined && !EXTENSIONS.test(extensions)) {
        wss.emit('wsClientError', new Error('Invalid Sec-WebSocket-Extensions header'), sock, req);
        return;
      }
      wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req));
    },
    /** Refuse new WebSockets from now on (503). */
    stopAccepting() {
      stopping = true;
    },
    /**
     * Close every socket, each after the replies it is owed (call it once the kernel has answered
     * everything), and resolve when all are closed or cut off.
     */
    async close(): Promise<void> {
      stopping = true;
      clearInterval(liveness);
      // Replies to the kernel's last batch are promise callbacks: let them reach their lines first.
      await new Promise((resolve) => setImmediate(resolve));
      for (const close of closers.values()) close(1001, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
