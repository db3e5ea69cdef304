// `npm run bench`: the native kernels against the TypeScript reference (and, with a GPU,
// CUDA against both), then the policy engine (GEMM, training and generation tokens/s), on the
// CPU and, with a GPU, the CUDA engine at the Qwen2.5-0.5B shape (benchmarks/engine-cuda.ts).
// `--quick` runs the smallest sizes. Prints tables and writes benchmarks/results/latest.json
// (loss kernels) and engine-latest.json.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

import { cudaInfo, numThreads } from '../src/index.js';
import { benchCuda } from './cuda.js';
import { benchEngine, printEngineRows, type EngineBenchRow } from './engine.js';
import { benchEngineCuda } from './engine-cuda.js';
import { benchLoss } from './loss.js';
import type { BenchRow } from './trial.js';

const quick = process.argv.includes('--quick');
const log = (line: string) => console.log(line);

async function main() {
  log(`dapo bench${quick ? ' (quick)' : ''}: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${numThreads()} threads`);
  const cuda = cudaInfo();
  log(`CUDA: ${cuda.devices > 0 ? cuda.deviceNames?.join(', ') : `not used (${cuda.reason})`}`);
  const rows: BenchRow[] = [...(await benchLoss(quick, log)), ...(await benchCuda(quick, log))];
  const engineRows: EngineBenchRow[] = [...(await benchEngine(quick, log)), ...(await benchEngineCuda(quick, log))];

  const dir = fileURLToPath(new URL('results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const tmp = `${dir}latest.json.tmp`;
  writeFileSync(tmp, JSON.stringify(rows, null, 2) + '\n');
  renameSync(tmp, `${dir}latest.json`);
  const engineTmp = `${dir}engine-latest.json.tmp`;
  writeFileSync(engineTmp, JSON.stringify(engineRows, null, 2) + '\n');
  renameSync(engineTmp, `${dir}engine-latest.json`);
  console.table(rows.map((r) => ({ ...r, medianMs: +r.medianMs.toFixed(2), gbPerS: +r.gbPerS.toFixed(2) })));
  printEngineRows(engineRows);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
