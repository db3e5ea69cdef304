// The DAPO loop: generate groups until the batch holds enough informative ones (dynamic
// sampling), update the policy on them, log a metrics line; validate, checkpoint and plot
// on schedule; leave a Hugging Face model in final/.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { PromptSampler } from '../data/index.js';
import { Policy } from '../policy/index.js';
import { GroupCollector, isInformative } from '../rollout/dynamic-sampling.js';
import { generateGroups } from '../rollout/generate.js';
import type { Group } from '../rollout/types.js';
import { warmupCacheKey, warmupTo, WARMUP_DEFAULTS } from '../task/warmup.js';
import { samplesFromGroups } from './batch.js';
import { deserializeGroups, findCheckpoint, readTrainerState, saveCheckpoint, serializeGroups, type TrainerState } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { mean, MetricsLog, type Metrics } from './metrics.js';
import { plotRun } from './plot.js';
import { Progress } from './progress.js';
import { setupRun, type RunInputs } from './setup.js';
import { updatePolicy } from './update.js';

export interface TrainOptions {
  resume?: string;
  log?: (line: string) => void;
  /** Install the Ctrl-C handler (finish the step, checkpoint, exit). Off in tests. */
  handleSignals?: boolean;
}

export interface TrainSummary {
  outDir: string;
  steps: number;
  startVal?: EvalResult;
  endVal?: EvalResult;
  finalModel: string;
  plot: string;
  interrupted: boolean;
}

/** A generation seed per (step, generation batch): a resumed run draws what a straight one would. */
function generationSeed(seed: number, step: number, batch: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b) ^ Math.imul(batch + 1, 0xc2b2ae35)) >>> 0;
}

const VALIDATION_SEED = (seed: number) => generationSeed(seed, 0, 1 << 20);

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

function defaultOutDir(): string {
  return join('runs', new Date().toISOString().replace(/[:.]/g, '-').replace('Z', ''));
}

interface StepResult {
  metrics: Metrics;
  surplus: Group[];
  exhausted: boolean;
}

async function runStep(
  run: RunInputs,
  config: TrainConfig,
  sampler: PromptSampler,
  carried: Group[],
  step: number,
  optimizerSteps: { value: number },
  reference: Policy | undefined,
): Promise<StepResult> {
  const started = Date.now();
  const collector = new GroupCollector(config.trainBatch, config.dynamicSampling, carried);
  const generated: Group[] = [];
  let genBatches = 0;
  let exhausted = false;
  while (!collector.full && genBatches < config.maxGenBatches) {
    const want = config.dynamicSampling ? config.genBatch : config.trainBatch - collector.size;
    const ids = sampler.next(want);
    if (ids.length === 0) {
      exhausted = true;
      break;
    }
    const groups = await generateGroups(
      run.policy,
      run.tokenizer,
      run.reward,
      ids.map((i) => run.train.rows[i]),
      ids.map((i) => run.train.ids[i]),
      config,
      config,
      generationSeed(config.seed, step, genBatches),
    );
    genBatches++;
    generated.push(...groups);
    collector.add(groups);
  }
  const generatedAt = Date.now();
  const { batch, surplus } = collector.take();
  const rollouts = generated.flatMap((g) => g.rollouts);
  const metrics: Metrics = {
    step,
    'train/reward_mean': mean(rollouts.map((r) => r.reward)),
    'train/score_mean': mean(rollouts.map((r) => r.taskScore)),
    'train/acc_mean': mean(rollouts.map((r) => (r.acc ? 1 : 0))),
    'train/kept_groups': batch.length,
    'train/generated_groups': collector.stats.generatedGroups,
    'train/num_gen_batches': genBatches,
    'train/resample_rate': collector.resampleRate,
    'train/dropped_all_correct': collector.stats.droppedAllCorrect,
    'train/dropped_all_wrong': collector.stats.droppedAllWrong,
    // Groups with no signal, with or without dynamic sampling (what it filters out).
    'train/all_equal_rate': collector.allEqualRate,
    'train/all_correct_rate': collector.stats.generatedGroups > 0 ? collector.stats.allCorrect / collector.stats.generatedGroups : 0,
    'train/informative_groups': batch.filter(isInformative).length,
    'train/batch_short': batch.length < config.trainBatch ? 1 : 0,
    'response_length/mean': mean(rollouts.map((r) => r.response.length)),
    'response_length/max': rollouts.reduce((m, r) => Math.max(m, r.response.length), 0),
    'response_length/clip_ratio': mean(rollouts.map((r) => (r.finished ? 0 : 1))),
    'response_length/overlong_penalty_mean': mean(rollouts.map((r) => r.overlongPenalty)),
  };
  if (batch.length > 0) {
    const samples = samplesFromGroups(batch, config, new Set(generated));
    const update = await updatePolicy(run.policy, samples, config, optimizerSteps.value, reference);
    optimizerSteps.value = update.optimizerSteps;
    Object.assign(metrics, update.metrics);
  }
  const seconds = (Date.now() - started) / 1000;
  const tokens = rollouts.reduce((s, r) => s + r.response.length, 0) + (metrics['actor/trained_tokens'] ?? 0);
  metrics['time/step_s'] = seconds;
  metrics['time/generate_s'] = (generatedAt - started) / 1000;
  metrics['perf/tokens_per_s'] = seconds > 0 ? tokens / seconds : 0;
  return { metrics, surplus: config.keepSurplus ? surplus : [], exhausted };
}

/**
 * Where training starts from: on resume the checkpoint (metrics past it dropped); a built-in
 * model first gets the supervised warm-up. Returns the starting model, the KL reference.
 */
async function prepareStart(
  run: RunInputs,
  config: TrainConfig,
  outDir: string,
  state: TrainerState | undefined,
  metricsLog: MetricsLog,
  log: (line: string) => void,
  resumeFrom: string | undefined,
): Promise<string> {
  if (state) {
    metricsLog.truncateAfter(state.step);
    log(`dapo: resuming from ${resumeFrom} after step ${state.step}`);
    return state.startModel;
  }
  const builtinModel = config.model.startsWith('builtin:');
  if (!builtinModel) return resolve(config.model);
  if (!run.builtinTask) return config.model;
  // A random built-in model learns the answer format first; the warm-up's optimizer state is
  // dropped, so RL starts with a fresh AdamW.
  const options = { ...WARMUP_DEFAULTS, steps: run.builtinTask.warmupSteps ?? WARMUP_DEFAULTS.steps, seed: config.seed + 7 };
  const warmDir = join(outDir, 'warmup-model');
  const cacheEntry = config.warmupCache ? join(config.warmupCache, warmupCacheKey(config.dataset, config.model, config.seed, options)) : undefined;
  const warm = await warmupTo(warmDir, run.policy, run.tokenizer, run.builtinTask, options, cacheEntry);
  run.policy.dispose();
  run.policy = await Policy.load(warmDir, { loadOptimizer: false, device: config.device });
  log(
    warm.reused
      ? `dapo: warm-up model reused from ${cacheEntry}, copied to ${warmDir}`
      : `dapo: supervised warm-up done (${options.steps} steps, nll ${warm.loss!.toFixed(3)}), saved to ${warmDir}`,
  );
  return warmDir;
}

export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const resumeFrom = options.resume ? findCheckpoint(options.resume) : undefined;
  const state: TrainerState | undefined = resumeFrom ? readTrainerState(resumeFrom) : undefined;
  const outDir = resolve(config.out ?? (options.resume && !existsSync(join(options.resume, 'trainer-state.json')) ? options.resume : defaultOutDir()));
  mkdirSync(outDir, { recursive: true });
  writeJsonAtomic(join(outDir, 'config.json'), config);

  const run = await setupRun(config, resumeFrom ? join(resumeFrom, 'model') : undefined);
  for (const note of run.notes) log(`dapo: ${note}`);
  const metricsLog = new MetricsLog(join(outDir, 'metrics.jsonl'));
  const sampler = new PromptSampler(run.train.rows.length, { seed: config.seed, shuffle: true, epochs: config.epochs }, state?.cursor);
  let carried = state ? deserializeGroups(state.surplus, (id) => run.train.rows[id]) : [];
  const optimizerSteps = { value: state?.optimizerSteps ?? 0 };
  const firstStep = (state?.step ?? 0) + 1;

  const startModel = await prepareStart(run, config, outDir, state, metricsLog, log, resumeFrom);
  const reference = config.klCoef > 0 ? await Policy.load(startModel, { device: config.device, seed: config.seed, loadOptimizer: false }) : undefined;

  // One seed for every validation, so val/acc moves with the policy, not with the draws.
  const validate = async (): Promise<EvalResult | undefined> => {
    if (!run.val || run.val.rows.length === 0) return undefined;
    const limit = config.valLimit > 0 ? config.valLimit : run.val.rows.length;
    return evaluate(run.policy, run.tokenizer, run.reward, run.val.rows.slice(0, limit), run.val.ids.slice(0, limit), config, VALIDATION_SEED(config.seed));
  };

  let startVal: EvalResult | undefined;
  if (!state) {
    startVal = await validate();
    if (startVal) {
      metricsLog.append({ step: 0, ...startVal });
      log(`dapo: step 0 val/acc ${startVal['val/acc'].toFixed(3)} pass@${config.valSamples} ${startVal['val/pass@k'].toFixed(3)}`);
    }
  }

  let interrupted = false;
  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    log('\ndapo: stopping after this step (Ctrl-C again to quit at once)');
  };
  if (options.handleSignals) process.on('SIGINT', onSignal);

  const progress = new Progress(config.steps, firstStep - 1);
  let step = firstStep - 1;
  let endVal: EvalResult | undefined;
  let shortSteps = 0;
  try {
    for (step = firstStep; step <= config.steps; step++) {
      const result = await runStep(run, config, sampler, carried, step, optimizerSteps, reference);
      carried = result.surplus;
      const metrics = result.metrics;
      if (metrics['train/batch_short'] && shortSteps++ === 0)
        progress.note(
          `dapo: step ${step}: only ${metrics['train/kept_groups']}/${config.trainBatch} groups kept after ${metrics['train/num_gen_batches']} ` +
            `generation batches${result.exhausted ? ' (data exhausted)' : ''}; trained on those (later such steps are counted, see train/batch_short)`,
        );
      const evalNow = config.evalEvery > 0 ? step % config.evalEvery === 0 || step === config.steps : step === config.steps;
      if (evalNow) {
        const val = await validate();
        if (val) {
          Object.assign(metrics, val);
          endVal = val;
        }
      }
      metricsLog.append(metrics);
      progress.update(step, {
        reward: metrics['train/reward_mean'].toFixed(3),
        acc: metrics['train/acc_mean'].toFixed(3),
        ...(metrics['val/acc'] !== undefined ? { 'val/acc': metrics['val/acc'].toFixed(3) } : {}),
      });
      const scheduled = config.saveEvery > 0 && step % config.saveEvery === 0;
      if (scheduled || (stopRequested && step < config.steps)) {
        await saveCheckpoint(join(outDir, 'checkpoints', `step-${step}`), run.policy, {
          step,
          optimizerSteps: optimizerSteps.value,
          cursor: sampler.cursor,
          surplus: serializeGroups(carried),
          startModel,
        });
      }
      if (config.plotEvery > 0 && step % config.plotEvery === 0) await plotRun(outDir);
      if (result.exhausted) {
        progress.note(`dapo: the dataset ran out after ${config.epochs} epoch(s) at step ${step}`);
        break;
      }
      if (stopRequested) {
        interrupted = true;
        break;
      }
    }
  } finally {
    progress.finish();
    if (shortSteps > 1) log(`dapo: ${shortSteps} steps trained on fewer than ${config.trainBatch} groups (train/batch_short in metrics.jsonl)`);
    if (options.handleSignals) process.off('SIGINT', onSignal);
  }
  const finalModel = join(outDir, 'final');
  await run.policy.save(finalModel, { optimizer: false });
  const plot = await plotRun(outDir);
  run.policy.dispose();
  reference?.dispose();
  return { outDir, steps: Math.min(step, config.steps), startVal, endVal, finalModel, plot, interrupted };
}
