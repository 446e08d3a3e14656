import { startServer } from './server.ts';

/** `npm start`: run molt at feed version 1 (or $MOLT_BOOT). */
const env = process.env;
const server = await startServer({
  port: Number(env['PORT'] ?? 8080),
  host: env['HOST'] ?? '0.0.0.0',
  operatorPort: Number(env['OPERATOR_PORT'] ?? 8081),
  operatorHost: env['OPERATOR_HOST'] ?? '127.0.0.1',
  ...(env['MOLT_BOOT'] ? { boot: env['MOLT_BOOT'] } : {}),
  ...(env['LOG_LEVEL'] ? { logLevel: env['LOG_LEVEL'] as 'info' } : {}),
});
server.log.info({ url: server.url, operator: server.operatorUrl, tokenFile: server.tokenFile, version: server.kernel.version, release: server.kernel.release }, `molt is running at ${server.url}`);

// Input never kills the process: everything from sockets and the operator is caught where it enters.
// Should something slip through anyway, log it loudly and keep serving: the state lives only here.
process.on('uncaughtException', (err) => server.log.fatal({ err }, 'uncaught exception: kept running'));
process.on('unhandledRejection', (err) => server.log.fatal({ err }, 'unhandled rejection: kept running'));

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) process.exit(1);
    closing = true;
    server.log.info({ signal }, 'shutting down: the in-memory state ends with this process');
    void server.close().then(() => process.exit(0));
  });
}
