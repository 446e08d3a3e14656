import { logOutput, serverOptionsFromEnv, settingFailure } from './env.ts';
import { startServer, type RunningServer, type ServerOptions } from './server.ts';

/** `npm start`: run molt at feed version 1 (or $MOLT_BOOT). Every limit comes from MOLT_* (README). */
let options: ServerOptions;
try {
  options = serverOptionsFromEnv(process.env);
} catch (err) {
  process.stderr.write(`molt: ${(err as Error).message}\n`);
  process.exit(2);
}
const logs = logOutput();
let server: RunningServer;
try {
  server = await startServer({ ...options, logStream: logs.stream });
} catch (err) {
  // a setting to change (a boot version that does not build, a token file, a port that is taken) is
  // said as one, exit 2: it was a stack trace
  const said = settingFailure(err, process.env);
  if (said === null) throw err;
  process.stderr.write(`molt: ${said}\n`);
  process.exit(2);
}
// the rehearsal process starts now and keeps its mirror of the state close behind, so a push starts at once
void server.kernel.warm();
logs.ready(server, `molt is running feed v${server.kernel.version} (operator API ${server.operatorUrl}${server.tokenFile ? `, token in ${server.tokenFile}` : ''})`);

// Input never kills the process: everything from sockets and the operator is caught where it enters.
// Should something slip through anyway, log it loudly and keep serving: the state lives only here.
process.on('uncaughtException', (err) => server.log.fatal({ err }, 'uncaught exception: kept running'));
process.on('unhandledRejection', (err) => server.log.fatal({ err }, 'unhandled rejection: kept running'));

// A stop answers every command already received, closes every socket after its replies, then exits.
// The feed lives only in this process: when it exits, every post, user and session is gone.
let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) process.exit(1); // a second signal: stop now
    closing = true;
    const stopped = server.close(); // first: nothing a log line does may hold up the stop
    server.log.info({ signal }, 'stopping: answering what was received, then closing; the in-memory feed ends with this process');
    stopped.then(
      () => exit(0, 'stopped'),
      (err: unknown) => exit(1, `stop failed: ${String(err)}`),
    );
  });
}

function exit(code: number, line: string): void {
  server.log[code === 0 ? 'info' : 'fatal']({}, line);
  process.exit(code);
}
