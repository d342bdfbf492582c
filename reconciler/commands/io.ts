/** Where a command writes: stdout for results, stderr for errors and progress. Tests pass their own. */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** How a command reports its exit code (0 clean, 1 findings/changes, 2 trouble) back to `main()`. */
export type SetExit = (code: number) => void;

export const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};
