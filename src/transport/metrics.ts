import client from 'prom-client';
import type { Kernel, Observer } from '../kernel/kernel.ts';

/** Prometheus metrics for one kernel, in a registry of its own (tests start many servers). */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const commands = new client.Counter({ name: 'molt_commands_total', help: 'Commands handled, by type and outcome', labelNames: ['type', 'outcome'] as const, registers: [registry] });
  const commandSeconds = new client.Histogram({ name: 'molt_command_seconds', help: 'Time in the feed handler per command', buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.25], registers: [registry] });
  const upgrades = new client.Counter({ name: 'molt_upgrades_total', help: 'Upgrade attempts, by kind and result', labelNames: ['kind', 'result'] as const, registers: [registry] });
  const pause = new client.Histogram({ name: 'molt_upgrade_pause_seconds', help: 'Time commands waited during an upgrade', buckets: [0.005, 0.02, 0.1, 0.5, 2, 10], registers: [registry] });
  let kernel: Kernel | undefined;
  new client.Gauge({ name: 'molt_feed_version', help: 'Running feed version', registers: [registry], collect() { if (kernel) this.set(kernel.version); } });
  new client.Gauge({ name: 'molt_connections', help: 'Open client connections', registers: [registry], collect() { if (kernel) this.set(kernel.connections); } });

  const observer: Observer = {
    command(type, outcome, ms) {
      // Command types come from clients: only count the ones the running version knows, to bound labels.
      const known = kernel ? kernel.commands.includes(type) || type === 'presence' : false;
      commands.inc({ type: known ? type : 'other', outcome });
      commandSeconds.observe(ms / 1000);
    },
    upgrade(report) {
      upgrades.inc({ kind: report.kind, result: report.result });
      if (report.result === 'committed') pause.observe(report.pauseMs / 1000);
    },
  };
  return {
    registry,
    observer,
    bind(k: Kernel) {
      kernel = k;
    },
  };
}
