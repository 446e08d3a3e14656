import client from 'prom-client';
import type { Kernel, Observer } from '../kernel/kernel.ts';
import type { WsObserver } from './ws.ts';

/** A command's outcome, as the kernel reports it. */
type Outcome = Parameters<NonNullable<Observer['command']>>[1];

/** How often the event loop's lag is sampled (ms). */
const LAG_SAMPLE_MS = 50;

/** Prometheus metrics for one kernel, in a registry of its own (tests start many servers). */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  // Counted here per (type, outcome), one number each, and handed to prom-client when it is scraped:
  // its inc() hashes the labels at every call (even through a child from labels()).
  const counted = new Map<string, Record<Outcome, number>>();
  new client.Counter({
    name: 'molt_commands_total',
    help: 'Commands handled, by type and outcome',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, by] of counted) for (const [outcome, n] of Object.entries(by)) if (n > 0) this.inc({ type, outcome }, n);
    },
  });
  const commandSeconds = new client.Histogram({ name: 'molt_command_seconds', help: 'Time in the feed handler per command', buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.25], registers: [registry] });
  const upgrades = new client.Counter({ name: 'molt_upgrades_total', help: 'Upgrade attempts, by kind and result', labelNames: ['kind', 'result'] as const, registers: [registry] });
  const pause = new client.Histogram({ name: 'molt_upgrade_pause_seconds', help: 'Time commands waited during an upgrade', buckets: [0.005, 0.02, 0.1, 0.5, 2, 10], registers: [registry] });
  const rateLimited = new client.Counter({ name: 'molt_rate_limited_total', help: 'Commands refused with E_RATE_LIMITED, by scope (connection, address) and budget (commands, joins)', labelNames: ['scope', 'budget'] as const, registers: [registry] });
  const closedPeers = new client.Counter({ name: 'molt_closed_peers_total', help: 'Sockets the server closed, by reason (dead, slow, refused_frames, too_many_connections)', labelNames: ['reason'] as const, registers: [registry] });
  const circuits = new client.Counter({ name: 'molt_circuit_open_total', help: 'Times a command type was set aside (E_CIRCUIT_OPEN) because its handler kept running out its time, by type', labelNames: ['type'] as const, registers: [registry] });
  const asides = new client.Counter({ name: 'molt_address_circuit_open_total', help: 'Times a command type was set aside for one address (E_CIRCUIT_OPEN) because its handler kept running out its time on the commands from there, by type', labelNames: ['type'] as const, registers: [registry] });
  const lag = new client.Histogram({ name: 'molt_event_loop_lag_seconds', help: `How late a ${LAG_SAMPLE_MS} ms timer fires: time the event loop was held`, buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] });
  let lagMax = 0;
  new client.Gauge({ name: 'molt_event_loop_lag_max_seconds', help: 'Longest event-loop lag since the last scrape', registers: [registry], collect() { this.set(lagMax); lagMax = 0; } });
  let expected = performance.now() + LAG_SAMPLE_MS;
  const sampler = setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - expected) / 1000;
    expected = now + LAG_SAMPLE_MS;
    lag.observe(late);
    if (late > lagMax) lagMax = late;
  }, LAG_SAMPLE_MS);
  sampler.unref();
  let kernel: Kernel | undefined;
  new client.Gauge({ name: 'molt_feed_version', help: 'Running feed version', registers: [registry], collect() { if (kernel) this.set(kernel.version); } });
  new client.Gauge({ name: 'molt_connections', help: 'Open client connections', registers: [registry], collect() { if (kernel) this.set(kernel.connections); } });

  const observer: Observer = {
    command(type, outcome, ms) {
      // Command types come from clients: only count the ones the running version knows, to bound labels.
      const known = kernel ? kernel.commands.includes(type) || type === 'presence' : false;
      const label = known ? type : 'other';
      let by = counted.get(label);
      if (by === undefined) counted.set(label, (by = { ok: 0, refused: 0, error: 0 }));
      by[outcome]++;
      commandSeconds.observe(ms / 1000);
    },
    circuit(type) {
      // only types the running version handles are ever set aside: the labels are bounded by its commands
      circuits.inc({ type });
    },
    upgrade(report) {
      upgrades.inc({ kind: report.kind, result: report.result });
      if (report.result === 'committed') pause.observe(report.pauseMs / 1000);
    },
  };
  const ws: WsObserver = {
    rateLimited(scope, budget) {
      rateLimited.inc({ scope, budget });
    },
    closed(reason) {
      closedPeers.inc({ reason });
    },
    aside(type) {
      // only a type the running version handles runs out its time: the labels are bounded by its commands
      asides.inc({ type });
    },
  };
  return {
    registry,
    observer,
    ws,
    stop() {
      clearInterval(sampler);
    },
    bind(k: Kernel) {
      kernel = k;
    },
  };
}
