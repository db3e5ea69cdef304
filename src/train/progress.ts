// A progress bar on a terminal (steps, ETA, score, accuracy); plain lines otherwise. Between
// step lines, a status line says what the step is doing (generation progress).
export class Progress {
  private readonly start = Date.now();
  private readonly tty: boolean;
  /** When a line last went out off a terminal: status lines are spaced STATUS_EVERY_MS apart. */
  private lastLine = Date.now();

  constructor(
    private readonly total: number,
    private readonly first: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY) && process.env.CI === undefined;
  }

  update(step: number, fields: Record<string, string>): void {
    const done = step - this.first;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - step) : 0;
    const info = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('  ');
    if (this.tty) {
      const width = 24;
      const filled = Math.round((width * step) / this.total);
      const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
      this.stream.write(`\r[${bar}] ${step}/${this.total}  eta ${formatSeconds(eta)}  ${info}\x1b[K`);
    } else {
      this.stream.write(`step ${step}/${this.total}  eta ${formatSeconds(eta)}  ${info}\n`);
      this.lastLine = Date.now();
    }
  }

  /**
   * What the current step is doing. On a terminal it replaces the bar until the step's line;
   * elsewhere (a log file, CI) it is printed when nothing was for STATUS_EVERY_MS, so a quick
   * step prints nothing and a slow one shows it is alive.
   */
  status(line: string): void {
    if (this.tty) {
      this.stream.write(`\r${line}\x1b[K`);
    } else if (Date.now() - this.lastLine >= STATUS_EVERY_MS) {
      this.stream.write(`${line}\n`);
      this.lastLine = Date.now();
    }
  }

  /** A line of its own (evaluation results, notices) that does not garble the bar. */
  note(line: string): void {
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
    this.lastLine = Date.now();
  }

  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}

export const STATUS_EVERY_MS = 10_000;

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** 12345 -> '12.3k'. */
export function formatCount(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return String(Math.round(x));
}
