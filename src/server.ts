import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { Kernel, type KernelOptions } from './kernel/kernel.ts';
import type { Limits } from './kernel/limits.ts';
import { buildRelease } from './release/build.ts';
import { DEFAULT_LOG } from './config.ts';
import { boundedLog, type LogBounds } from './transport/bounded-log.ts';
import { createPublicHttp, endWithError, type StaticFiles } from './transport/http.ts';
import { createMetrics } from './transport/metrics.ts';
import { createOperatorApi } from './transport/operator.ts';
import { DEFAULT_TOKEN_FILE, ensureTokenFile } from './transport/token.ts';
import { attachWebSocket, resolveWs, type WsOptions } from './transport/ws.ts';
import { buildClient } from '../client/build.ts';

/**
 * Wiring: build the boot release, start the kernel, put the transports around it. This is the
 * imperative shell; the kernel and the feed know nothing of ports, files or processes.
 */
export interface ServerOptions {
  /** Public HTTP + WebSocket port; 0 picks a free one. Default 8080. */
  port?: number;
  host?: string;
  /** Operator API port; 0 picks a free one. Default 8081. */
  operatorPort?: number;
  /** Operator API address. Default 127.0.0.1: never expose it without a reason. */
  operatorHost?: string;
  /** Operator token. Default: $MOLT_TOKEN, else the token file (created at first start). */
  token?: string;
  /** Where the token lives. Default .molt/operator-token under the working directory. */
  tokenFile?: string;
  /** Version number or version folder to boot. Default 1. */
  boot?: string | number;
  logLevel?: pino.Level | 'silent';
  /** Where log lines go (default stdout): tests read them. */
  logStream?: pino.DestinationStream;
  limits?: Partial<Limits>;
  /** Socket limits and the Origin allowlist (src/transport/ws.ts). */
  ws?: Partial<Omit<WsOptions, 'log' | 'observe'>>;
  /** Bounds on log lines that clients can cause. */
  logBounds?: Partial<LogBounds>;
  kernel?: Pick<KernelOptions, 'clock' | 'initialState'>;
}

export interface RunningServer {
  url: string;
  wsUrl: string;
  operatorUrl: string;
  token: string;
  tokenFile: string | null;
  kernel: Kernel;
  log: Logger;
  /**
   * Stop: refuse new connections and new commands (E_SHUTTING_DOWN), serve every command already
   * received, send each socket its replies and then its close (1001), and close the listeners.
   */
  close(): Promise<void>;
}

/** A listener could not take its port (EADDRINUSE: taken; EACCES: not allowed): nothing was started. */
export class ListenError extends Error {
  constructor(
    readonly listener: 'public' | 'operator',
    readonly port: number,
    readonly host: string,
    readonly code: string,
    cause: Error,
  ) {
    super(`the ${listener} listener cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : cause.message}`, { cause });
  }
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  // Synchronous writes: a log line is out when the call returns, nothing is left to flush at exit, and
  // a reader that went away (EPIPE) turns logging off instead of hanging the exit in a retry loop.
  const log = pino({ level: options.logLevel ?? 'info', base: { service: 'molt' } }, options.logStream ?? pino.destination({ dest: 1, sync: true }));
  // built before the token file is made: a boot version that does not build (MOLT_BOOT=9) leaves none
  const [boot, files] = await Promise.all([buildRelease(options.boot ?? 1), buildClient() as Promise<StaticFiles>]);
  let tokenFile: string | null = null;
  let freshTokenFile = false;
  let token = options.token ?? process.env['MOLT_TOKEN'];
  if (!token) {
    tokenFile = path.resolve(options.tokenFile ?? DEFAULT_TOKEN_FILE);
    freshTokenFile = !existsSync(tokenFile);
    token = ensureTokenFile(tokenFile);
  }
  if (token.length < 16) throw new Error('the operator token must be at least 16 characters');

  const metrics = createMetrics();
  // Warnings that clients cause are cut short and sampled: a client must not be able to fill the disk.
  const bounds = { ...DEFAULT_LOG, ...options.logBounds };
  const kernel = new Kernel(
    { code: boot.code, view: boot.view, hash: boot.hash },
    { ...options.kernel, ...(options.limits ? { limits: options.limits } : {}), log: boundedLog(log.child({ part: 'kernel' }), bounds), observe: metrics.observer },
  );
  metrics.bind(kernel);

  const quiet = options.logLevel === 'silent';
  const httpLog = quiet ? undefined : log.child({ part: 'http' });
  const readiness = { stopping: false };
  const app = createPublicHttp(kernel, files, metrics.registry, httpLog, readiness, resolveWs(options.ws));
  const ws = attachWebSocket(kernel, { ...options.ws, log: boundedLog(log.child({ part: 'ws' }), bounds), observe: metrics.ws });
  app.server.on('upgrade', (req, socket, head) => {
    const where = (req.url ?? '/').split('?')[0]!;
    if (where === '/ws') ws.handleUpgrade(req, socket, head);
    else endWithError(socket, 404, 'E_NOT_FOUND', `no WebSocket at ${where.slice(0, 100)}: it is at /ws`);
  });
  const operator = createOperatorApi(kernel, token, quiet ? undefined : log.child({ part: 'operator' }), ws);
  let closing: Promise<void> | null = null;

  // A port that cannot be taken ends the start: the listener that was opened closes, the kernel ends,
  // and a token file written for this start is removed (no server will ever read it).
  const listen = async (which: ListenError['listener'], server: { listen(o: { port: number; host: string }): Promise<unknown> }, port: number, host: string) => {
    try {
      await server.listen({ port, host });
    } catch (err) {
      await Promise.allSettled([app.close(), operator.close(), kernel.close()]);
      metrics.stop();
      if (freshTokenFile && tokenFile) rmSync(tokenFile, { force: true });
      const { code } = err as NodeJS.ErrnoException;
      throw new ListenError(which, port, host, code ?? 'unknown', err as Error);
    }
  };
  await listen('public', app, options.port ?? 8080, options.host ?? '0.0.0.0');
  await listen('operator', operator, options.operatorPort ?? 8081, options.operatorHost ?? '127.0.0.1');
  const pub = app.server.address() as AddressInfo;
  const op = operator.server.address() as AddressInfo;
  const hostName = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h.includes(':') ? `[${h}]` : h);

  return {
    url: `http://${hostName(pub.address)}:${pub.port}`,
    wsUrl: `ws://${hostName(pub.address)}:${pub.port}/ws`,
    operatorUrl: `http://${hostName(op.address)}:${op.port}`,
    token,
    tokenFile,
    kernel,
    log,
    close() {
      closing ??= (async () => {
        readiness.stopping = true;
        ws.stopAccepting();
        // Still listening while the commands drain: a new WebSocket gets 503 E_SHUTTING_DOWN and /readyz
        // says "stopping" (a load balancer reads that), rather than a refused connection saying nothing.
        await kernel.close();
        await ws.close();
        await Promise.all([app.close(), operator.close()]);
        metrics.stop();
      })();
      return closing;
    },
  };
}
