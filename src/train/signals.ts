// Ctrl-C (SIGINT) and SIGTERM (what schedulers and `docker stop` send) stop a run the same way,
// in the warm-up as in the DAPO steps: the first finishes the step (or abandons the warm-up),
// checkpoints and exits; a second quits at once.
export class StopSignals {
  /** The first signal received, once one was. */
  signal: NodeJS.Signals | undefined;
  private readonly installed: boolean;

  constructor(
    private readonly log: (line: string) => void,
    install: boolean,
  ) {
    this.installed = install;
    if (install) for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, this.onSignal);
  }

  get requested(): boolean {
    return this.signal !== undefined;
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.signal) process.exit(signal === 'SIGTERM' ? 143 : 130);
    this.signal = signal;
    const again = signal === 'SIGINT' ? 'Ctrl-C again' : `${signal} again`;
    this.log(`\ndapo: ${signal}: stopping after this step (${again} to quit at once)`);
  };

  dispose(): void {
    if (this.installed) for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, this.onSignal);
  }
}
