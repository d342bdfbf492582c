import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // fleet tests start real sshd processes and spend much of their time waiting on them (gates, guards, lock TTLs):
    // three workers on two cores measured 486 s against 573 s with two (2026-11-29), every test passing
    maxWorkers: 3,
    // one temp dir for the run's temp dirs (removed at the end); installs the real OpenClaw CLI cache once (no-op when
    // present) for fleet nodes and lint --openclaw
    globalSetup: ['test/helpers/tmp-setup.ts', 'test/fleet/global-setup.ts'],
  },
});
