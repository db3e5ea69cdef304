// A progress bar on a terminal (steps, ETA, reward, accuracy); plain lines otherwise.
export class Progress {
  private readonly start = Date.now();
  private readonly tty: boolean;

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
    }
  }

  /** A line of its own (evaluation results, notices) that does not garble the bar. */
  note(line: string): void {
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
