import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // fleet tests start real sshd processes; two cores, so keep parallelism modest
    maxWorkers: 2,
    // one temp dir for the run's temp dirs (removed at the end); installs the real OpenClaw CLI cache once (no-op when
    // present) for fleet nodes and lint --openclaw
    globalSetup: ['test/helpers/tmp-setup.ts', 'test/fleet/global-setup.ts'],
  },
});
