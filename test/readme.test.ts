// The README's examples run as written: the loss example against the compiled package,
// imported by name; the small-model commands (make the model, train with --preset small, eval)
// and the Policy example in a project folder laid out as this repository; the YAML config.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { packageRoot } from '../src/native.js';
import { readConfigFile } from '../src/train/config-file.js';
import { resolveConfig } from '../src/train/config.js';

const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

test('the README loss example runs and prints a finite loss', () => {
  const example = blocks('js').find((b) => b.includes('dapoLoss({'));
  assert.ok(example, 'README has a js block calling dapoLoss');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', example!], { cwd: packageRoot, encoding: 'utf8' });
  const loss = Number(out.trim().split(/\s+/)[0]);
  assert.ok(Number.isFinite(loss), `printed: ${out}`);
  assert.match(out, /clipFracLow/);
});

test('the README YAML config reads, in kebab-case, into the small preset', () => {
  const yaml = blocks('yaml').find((b) => b.includes('preset: small'));
  assert.ok(yaml, 'README has a YAML config');
  const dir = mkdtempSync(join(tmpdir(), 'dapo-readme-yaml-'));
  try {
    writeFileSync(join(dir, 'small.yaml'), yaml!);
    const config = resolveConfig(readConfigFile(join(dir, 'small.yaml')), {});
    assert.deepEqual([config.preset, config.maxResponseLen, config.logger, config.trainBatch], ['small', 128, 'tensorboard', 8]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('the README small-model walk-through', { timeout: 900_000 }, () => {
  // A project folder laid out as this repository, so the commands' relative paths hold and
  // what they write (models/, runs/) lands in a temporary folder.
  const project = mkdtempSync(join(tmpdir(), 'dapo-readme-'));
  after(() => rmSync(project, { recursive: true, force: true }));
  for (const entry of ['package.json', 'tsconfig.json', 'scripts', 'src', 'dist', 'test', 'node_modules', 'build'])
    symlinkSync(join(packageRoot, entry), join(project, entry));

  test('make a tiny Qwen3, train it with --preset small, evaluate it', () => {
    const commands = blocks('sh').find((b) => b.includes('make-tiny-qwen3'));
    assert.ok(commands, 'README has the small-model commands');
    const outputs: string[] = [];
    for (const line of commands!.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))) {
      const r = spawnSync('bash', ['-c', line], { cwd: project, encoding: 'utf8', env: { ...process.env, CI: '1' } });
      assert.equal(r.status, 0, `${line}\n${r.stdout}\n${r.stderr}`);
      outputs.push(r.stdout + r.stderr);
    }
    assert.ok(existsSync(join(project, 'models', 'tiny-qwen3', 'model.safetensors')));
    assert.match(outputs[1], /overlongBuffer 128 does not fit in maxResponseLen 16: using 3/);
    assert.match(outputs[1], /step 2\/2 .* score -?\d\.\d{3} {2}overlong -?\d\.\d{3} {2}acc \d\.\d{3} {2}kept \d+\/8/);
    assert.ok(existsSync(join(project, 'runs', 'try', 'final', 'model.safetensors')));
    assert.match(outputs[2], /settings from .*runs\/try\/config\.json/);
    assert.match(outputs[2], /data source\s+prompts\s+mean@4\s+pass@1\s+pass@2\s+pass@4/);
    assert.match(outputs[2], /"val-core\/[^/]+\/acc\/mean@4": \d/);
  });

  test('the Policy example tokenises a chat prompt into an Int32Array and samples from it', () => {
    const example = blocks('js').find((b) => b.includes('Policy.load('));
    assert.ok(example, 'README has the Policy example');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', example!], { cwd: project, encoding: 'utf8' }).trim().split('\n');
    assert.match(out[0], /^true \d+$/);
    assert.equal(out.length, 5, out.join('\n'));
    for (const line of out.slice(1)) assert.equal(typeof JSON.parse(line), 'string');
  });
});
