// The DAPO loop: generate groups until the batch holds enough informative ones (dynamic
// sampling), update the policy on them, log a metrics line; validate, checkpoint and plot
// on schedule; leave a Hugging Face model in final/.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { PromptSampler } from '../data/index.js';
import { Policy } from '../policy/index.js';
import { GroupCollector, isInformative } from '../rollout/dynamic-sampling.js';
import { generateGroups } from '../rollout/generate.js';
import type { Group } from '../rollout/types.js';
import { warmupCacheKey, warmupTo, WARMUP_DEFAULTS } from '../task/warmup.js';
import { samplesFromGroups } from './batch.js';
import {
  checkpointSteps, deserializeGroups, findCheckpoint, isCheckpoint, pruneCheckpoints, readTrainerState, saveCheckpoint, serializeGroups,
  type TrainerState,
} from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { withAbsolutePaths } from './config-paths.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { groupSignal, runWarnings, TrainingHints, type GroupSignal } from './hints.js';
import { mean, MetricsLog, type Metrics } from './metrics.js';
import { perfMetrics, updateFlops } from './perf.js';
import { plotRun } from './plot.js';
import { Progress } from './progress.js';
import { chooseRunFolder, clearRun, holdsRun, removeStaleTemporaries, runFolderOf, runHasProgress } from './run-folder.js';
import { finalModelDtype } from './save-dtype.js';
import { setAsideLaterProgress } from './set-aside.js';
import { policyOptions, setupRun, type RunInputs } from './setup.js';
import { StopSignals } from './signals.js';
import { consoleFields, StepStatus } from './step-status.js';
import { metricSinks } from './tensorboard.js';
import { updatePolicy } from './update.js';

export interface TrainOptions {
  /** A run folder or one of its checkpoints: the run continues there, in that folder. */
  resume?: string;
  /** Start a new run in a folder that holds one, deleting that run's files first. */
  overwrite?: boolean;
  log?: (line: string) => void;
  /** Handle Ctrl-C and SIGTERM (finish the step or abandon the warm-up, checkpoint, exit). Off in tests. */
  handleSignals?: boolean;
}

export interface TrainSummary {
  outDir: string;
  steps: number;
  startVal?: EvalResult;
  endVal?: EvalResult;
  /** final/, absent when the run stopped during the warm-up. */
  finalModel?: string;
  plot?: string;
  interrupted: boolean;
  /** The signal that stopped the run. */
  signal?: NodeJS.Signals;
  /** Stopped during the supervised warm-up: nothing to checkpoint yet; a resume starts the run over. */
  stoppedInWarmup?: boolean;
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
  signal: GroupSignal;
}

async function runStep(
  run: RunInputs,
  config: TrainConfig,
  sampler: PromptSampler,
  carried: Group[],
  step: number,
  optimizerSteps: { value: number },
  reference: Policy | undefined,
  status?: StepStatus,
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
      { onProgress: status?.generating(genBatches, collector.size) },
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
    // Sampling log-probs serve as old log-probs only where they are bitwise logprobs()'s (the CPU).
    const samples = samplesFromGroups(batch, config, run.policy.generationLogprobsExact ? new Set(generated) : new Set());
    status?.updating(batch.length, samples.length);
    const flops = updateFlops(run.policy, samples, config);
    const updateStarted = Date.now();
    const update = await updatePolicy(run.policy, samples, config, optimizerSteps.value, reference);
    optimizerSteps.value = update.optimizerSteps;
    Object.assign(metrics, update.metrics, perfMetrics(run.policy, flops, (Date.now() - updateStarted) / 1000));
  }
  const seconds = (Date.now() - started) / 1000;
  const tokens = rollouts.reduce((s, r) => s + r.response.length, 0) + (metrics['actor/trained_tokens'] ?? 0);
  metrics['time/step_s'] = seconds;
  metrics['time/generate_s'] = (generatedAt - started) / 1000;
  metrics['perf/tokens_per_s'] = seconds > 0 ? tokens / seconds : 0;
  return { metrics, surplus: config.keepSurplus ? surplus : [], exhausted, signal: groupSignal(generated) };
}

/**
 * Where training starts from: on resume the checkpoint (metrics past it dropped); a built-in
 * model first gets the supervised warm-up. Returns the starting model, the KL reference, or
 * undefined when a signal stopped the warm-up.
 */
async function prepareStart(
  run: RunInputs,
  config: TrainConfig,
  outDir: string,
  state: TrainerState | undefined,
  metricsLog: MetricsLog,
  log: (line: string) => void,
  resumeFrom: string | undefined,
  stop: StopSignals,
): Promise<string | undefined> {
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
  const warm = await warmupTo(warmDir, run.policy, run.tokenizer, run.builtinTask, { ...options, shouldStop: () => stop.requested }, cacheEntry);
  if (warm.stopped) return undefined;
  run.policy.dispose();
  run.policy = await Policy.load(warmDir, { loadOptimizer: false, ...policyOptions(config) });
  log(
    warm.reused
      ? `dapo: warm-up model reused from ${cacheEntry}, copied to ${warmDir}`
      : `dapo: supervised warm-up done (${options.steps} steps, nll ${warm.loss!.toFixed(3)}), saved to ${warmDir}`,
  );
  return warmDir;
}

/**
 * The checkpoint a resume continues from, or undefined when the run folder has none because
 * the run stopped before its first step (in the warm-up): then it starts over in its folder.
 */
function resumePoint(resume: string, outDir: string, log: (line: string) => void): string | undefined {
  const dir = runFolderOf(resume);
  if (dir === outDir && !isCheckpoint(dir) && checkpointSteps(dir).length === 0 && holdsRun(dir) && !runHasProgress(dir)) {
    log(`dapo: ${dir} has no checkpoint (the run stopped before its first step): starting it over there`);
    clearRun(dir);
    return undefined;
  }
  return findCheckpoint(resume);
}

export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  // Installed first, so that a signal during the set-up or the warm-up stops the run cleanly too.
  const stop = new StopSignals(log, options.handleSignals ?? false);
  try {
    return await trainRun(config, options, log, stop);
  } finally {
    stop.dispose();
  }
}

async function trainRun(given: TrainConfig, options: TrainOptions, log: (line: string) => void, stop: StopSignals): Promise<TrainSummary> {
  const config = withAbsolutePaths(given);
  const outDir = chooseRunFolder({ out: config.out, resume: options.resume, overwrite: options.overwrite ?? false, defaultOut: defaultOutDir });
  const resumeFrom = options.resume !== undefined ? resumePoint(options.resume, outDir, log) : undefined;
  const state: TrainerState | undefined = resumeFrom ? readTrainerState(resumeFrom) : undefined;
  mkdirSync(outDir, { recursive: true });
  for (const stale of removeStaleTemporaries(outDir)) log(`dapo: removed ${stale}, left by a write that was killed`);
  const setAside = state ? setAsideLaterProgress(outDir, state.step) : undefined;
  if (setAside) log(`dapo: resuming at step ${state!.step}: what the run wrote after it (later checkpoints, final/) is moved to ${setAside}`);
  writeJsonAtomic(join(outDir, 'config.json'), { ...config, out: outDir });

  const run = await setupRun(config, resumeFrom ? join(resumeFrom, 'model') : undefined);
  for (const note of run.notes) log(`dapo: ${note}`);
  for (const warning of runWarnings(config, run.train.rows.length, run.policy.device)) log(warning);
  const metricsLog = new MetricsLog(join(outDir, 'metrics.jsonl'), metricSinks(config, outDir));
  const sampler = new PromptSampler(run.train.rows.length, { seed: config.seed, shuffle: true, epochs: config.epochs }, state?.cursor);
  let carried = state ? deserializeGroups(state.surplus, (id) => run.train.rows[id]) : [];
  const optimizerSteps = { value: state?.optimizerSteps ?? 0 };
  const firstStep = (state?.step ?? 0) + 1;

  const startModel = await prepareStart(run, config, outDir, state, metricsLog, log, resumeFrom, stop);
  if (startModel === undefined) {
    log('dapo: stopped during the supervised warm-up; nothing to checkpoint yet (a resume starts the run over)');
    run.policy.dispose();
    return { outDir, steps: 0, interrupted: true, signal: stop.signal, stoppedInWarmup: true };
  }
  const reference = config.klCoef > 0 ? await Policy.load(startModel, { ...policyOptions(config), seed: config.seed, loadOptimizer: false }) : undefined;

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
  const progress = new Progress(config.steps, firstStep - 1);
  let step = firstStep - 1;
  let endVal: EvalResult | undefined;
  let shortSteps = 0;
  const hints = new TrainingHints(config);
  try {
    for (step = firstStep; step <= config.steps; step++) {
      const result = await runStep(run, config, sampler, carried, step, optimizerSteps, reference, new StepStatus(progress, step, config));
      carried = result.surplus;
      const metrics = result.metrics;
      if (metrics['train/batch_short']) shortSteps++;
      for (const hint of hints.afterStep(step, metrics, result.signal, result.exhausted)) progress.note(hint);
      const evalNow = config.evalEvery > 0 ? step % config.evalEvery === 0 || step === config.steps : step === config.steps;
      if (evalNow) {
        const val = await validate();
        if (val) {
          Object.assign(metrics, val);
          endVal = val;
        }
      }
      metricsLog.append(metrics);
      progress.update(step, consoleFields(metrics, config));
      const scheduled = config.saveEvery > 0 && step % config.saveEvery === 0;
      if (scheduled || (stop.requested && step < config.steps)) {
        await saveCheckpoint(join(outDir, 'checkpoints', `step-${step}`), run.policy, {
          step,
          optimizerSteps: optimizerSteps.value,
          cursor: sampler.cursor,
          surplus: serializeGroups(carried),
          startModel,
        });
        pruneCheckpoints(outDir, config.saveLimit);
      }
      if (config.plotEvery > 0 && step % config.plotEvery === 0) await plotRun(outDir);
      if (result.exhausted) {
        progress.note(`dapo: the dataset ran out after ${config.epochs} epoch(s) at step ${step}`);
        break;
      }
      if (stop.requested) {
        interrupted = true;
        break;
      }
    }
  } finally {
    progress.finish();
    if (shortSteps > 1) log(`dapo: ${shortSteps} steps trained on fewer than ${config.trainBatch} groups (train/batch_short in metrics.jsonl)`);
  }
  const finalModel = join(outDir, 'final');
  await run.policy.save(finalModel, { optimizer: false, dtype: finalModelDtype(config) });
  const plot = await plotRun(outDir);
  run.policy.dispose();
  reference?.dispose();
  return { outDir, steps: Math.min(step, config.steps), startVal, endVal, finalModel, plot, interrupted, signal: stop.signal };
}
