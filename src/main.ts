import { logOutput, serverOptionsFromEnv } from './env.ts';
import { startServer } from './server.ts';

/** `npm start`: run molt at feed version 1 (or $MOLT_BOOT). */
const logs = logOutput();
const server = await startServer({ ...serverOptionsFromEnv(process.env), logStream: logs.stream });
// the rehearsal process starts now and keeps its mirror of the state close behind, so a push starts at once
void server.kernel.warm();
logs.ready(server, `molt is running feed v${server.kernel.version} (operator API ${server.operatorUrl}${server.tokenFile ? `, token in ${server.tokenFile}` : ''})`);

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
