import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // fleet tests start real sshd processes; two cores, so keep parallelism modest (three workers measured 486 s
    // against 573 s, but made timing-sensitive fleet tests flaky on a clean-clone CI run: 2026-11-29)
    maxWorkers: 2,
    // one temp dir for the run's temp dirs (removed at the end); installs the real OpenClaw CLI cache once (no-op when
    // present) for fleet nodes and lint --openclaw
    globalSetup: ['test/helpers/tmp-setup.ts', 'test/fleet/global-setup.ts'],
    // each test file: its own verdict store for the CLI's applies (test/helpers/file-env.ts)
    setupFiles: ['test/helpers/file-env.ts'],
  },
});
