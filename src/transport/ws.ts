import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { ERRORS } from '../kernel/errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { decode, encode } from './codec.ts';
import type { ServerFrame } from './protocol.ts';

/**
 * The WebSocket adapter: msgpack frames in, kernel.dispatch, msgpack frames out. It owns sockets and
 * nothing else. Limits: `maxPayload` (close 1009 past it, from ws itself) and a bound on replies a slow
 * client may leave unsent (`maxBufferedBytes`, close 1008).
 */
export interface WsOptions {
  maxPayload: number;
  maxBufferedBytes: number;
  /** How long a client closed for being too slow has to read the close frame before it is cut off. */
  closeGraceMs: number;
  log?: { warn(obj: object, msg?: string): void };
}

export const DEFAULT_WS: WsOptions = { maxPayload: 64 * 1024, maxBufferedBytes: 8 * 1024 * 1024, closeGraceMs: 2_000 };

export function attachWebSocket(kernel: Kernel, options: Partial<WsOptions> = {}) {
  const opts = { ...DEFAULT_WS, ...options };
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false });

  wss.on('connection', (socket: WebSocket) => {
    let dropped = false;
    const send = (frame: ServerFrame) => {
      if (dropped || socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > opts.maxBufferedBytes) {
        // A client that stopped reading: stop feeding it now, say why behind what it has not read,
        // and cut it off if it does not read that either.
        dropped = true;
        kernel.disconnect(conn);
        socket.close(1008, 'too slow: too many frames waiting');
        setTimeout(() => socket.terminate(), opts.closeGraceMs).unref();
        return;
      }
      let bytes: Buffer;
      try {
        bytes = encode(frame);
      } catch (err) {
        opts.log?.warn({ frame: frame.t, err: String(err) }, 'frame did not encode');
        return;
      }
      socket.send(bytes);
    };
    const conn = kernel.connect(send);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      let frame: unknown;
      try {
        if (!isBinary) throw new Error('text frame');
        frame = decode(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
      } catch {
        send({ t: 'error', error: { code: 'E_BAD_FRAME', message: `${ERRORS.E_BAD_FRAME}: send binary msgpack maps` } });
        return;
      }
      const id = (frame as { id?: unknown } | null)?.id;
      if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || !Number.isSafeInteger(id) || typeof (frame as { type?: unknown }).type !== 'string') {
        const error = { code: 'E_BAD_COMMAND', message: ERRORS.E_BAD_COMMAND };
        if (Number.isSafeInteger(id)) send({ t: 'reply', id: id as number, ok: false, error });
        else send({ t: 'error', error });
        return;
      }
      const { id: _id, ...command } = frame as { id: number; type: string };
      kernel.dispatch(conn, command).then(
        (r) => send(r.ok ? { t: 'reply', id: id as number, ok: true, data: r.data } : { t: 'reply', id: id as number, ok: false, error: r.error }),
        (err: unknown) => {
          opts.log?.warn({ conn: conn.id, err: String(err) }, 'dispatch failed');
          send({ t: 'reply', id: id as number, ok: false, error: { code: 'E_HANDLER_THREW', message: 'internal error' } });
        },
      );
    });
    socket.on('close', () => kernel.disconnect(conn));
    socket.on('error', () => socket.terminate());
  });

  return {
    wss,
    /** Hand an HTTP upgrade on /ws to the WebSocket server. */
    handleUpgrade(req: IncomingMessage, sock: Duplex, head: Buffer) {
      wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req));
    },
    close(): Promise<void> {
      for (const client of wss.clients) {
        client.close(1001, 'server shutting down');
        // A client that does not answer the close handshake is not waited for.
        setTimeout(() => client.terminate(), opts.closeGraceMs).unref();
      }
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
}
