// What the console says while a step runs and when it ends: generation progress inside the
// step (sequences, tokens, tokens/s), then the step's line with the task score and the
// overlong penalty apart (their sum, the reward, reads as "-2" on a step with no signal).
import type { GenerationProgress } from '../rollout/generate.js';
import type { TrainConfig } from './config.js';
import type { Metrics } from './metrics.js';
import { formatCount, type Progress } from './progress.js';

/** Status lines for one step, written through the run's Progress. */
export class StepStatus {
  private readonly started = Date.now();
  /** Tokens of the generation batches already finished in this step. */
  private tokensBefore = 0;

  constructor(
    private readonly progress: Pick<Progress, 'status'>,
    private readonly step: number,
    private readonly config: Pick<TrainConfig, 'steps' | 'trainBatch' | 'maxGenBatches'>,
  ) {}

  /** The progress callback of generation batch `batch` (0-based), `kept` groups kept so far. */
  generating(batch: number, kept: number): (p: GenerationProgress) => void {
    return (p) => {
      const tokens = this.tokensBefore + p.tokens;
      const seconds = (Date.now() - this.started) / 1000;
      const rate = seconds > 0 ? `, ${formatCount(tokens / seconds)} tok/s` : '';
      const batches = this.config.maxGenBatches > 1 ? ` (generation batch ${batch + 1}/${this.config.maxGenBatches}, ${kept}/${this.config.trainBatch} groups kept)` : '';
      this.progress.status(`step ${this.step}/${this.config.steps}: generating ${p.sequences}/${p.totalSequences} sequences, ${formatCount(tokens)} tokens${rate}${batches}`);
      if (p.sequences === p.totalSequences) this.tokensBefore += p.tokens;
    };
  }

  updating(groups: number, sequences: number): void {
    this.progress.status(`step ${this.step}/${this.config.steps}: updating the policy on ${groups} groups (${sequences} sequences)`);
  }
}

/** The fields of a step's console line. */
export function consoleFields(metrics: Metrics, config: Pick<TrainConfig, 'trainBatch' | 'overlongShaping'>): Record<string, string> {
  const fields: Record<string, string> = { score: metrics['train/score_mean'].toFixed(3) };
  if (config.overlongShaping) fields.overlong = metrics['response_length/overlong_penalty_mean'].toFixed(3);
  fields.acc = metrics['train/acc_mean'].toFixed(3);
  fields.kept = `${metrics['train/kept_groups']}/${config.trainBatch}`;
  if (metrics['val/acc'] !== undefined) fields['val/acc'] = metrics['val/acc'].toFixed(3);
  return fields;
}
