import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Many tests start a rehearsal process, a server or a browser: on two busy cores the default 5 s
    // was passed by ones that take 1-2 s alone. Tests that measure time assert it themselves.
    testTimeout: 30_000,
    // expect.poll waits for what must happen eventually (a page showing the new version, a socket
    // closed): its default 1 s was passed by a page that needed longer to load v3's view on loaded cores.
    // What must happen within a time is asserted with a clock, not with a poll's timeout.
    expect: { poll: { timeout: 10_000 } },
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/alone/**'] } },
      // Tests that measure latency or load the machine run after the rest, one file at a time: their
      // numbers would otherwise be the other tests' noise.
      { extends: true, test: { name: 'alone', include: ['test/alone/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
