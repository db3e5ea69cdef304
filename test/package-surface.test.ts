// dapo as another project meets it once installed: node_modules/dapo beside its dependencies.
// `dapo --version` prints dapo's version there (yargs alone would read the package.json of the
// folder holding node_modules/yargs: the user's project), and a TypeScript project importing
// dapo compiles with skipLibCheck: false (TypeScript's default), so our declarations must not
// pull in third-party typings that do not compile (tokenizers').
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { packageRoot } from '../src/native.js';

const app = mkdtempSync(join(tmpdir(), 'dapo-app-'));
after(() => rmSync(app, { recursive: true, force: true }));
const pkg = join(app, 'node_modules', 'dapo');
const ownVersion = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('dapo installed in another project', { timeout: 300_000 }, () => {
  before(() => {
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'users-project', version: '9.9.9', type: 'module' }));
    mkdirSync(pkg, { recursive: true });
    // What `npm pack` ships: dist/ built from src (code and declarations), package.json, the addon.
    const built = spawnSync(process.execPath, [tsc, '-p', join(packageRoot, 'tsconfig.json'), '--sourceMap', 'false', '--outDir', join(pkg, 'dist')], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stdout + built.stderr);
    writeFileSync(join(pkg, 'package.json'), readFileSync(join(packageRoot, 'package.json')));
    symlinkSync(join(packageRoot, 'build'), join(pkg, 'build'));
    // Its dependencies hoisted beside it, as npm installs them.
    for (const dep of readdirSync(join(packageRoot, 'node_modules'))) if (!dep.startsWith('.')) symlinkSync(join(packageRoot, 'node_modules', dep), join(app, 'node_modules', dep));
  });

  test("dapo --version prints dapo's version, not the project's", () => {
    // --preserve-symlinks: modules see the paths of this layout, as in a real install.
    const out = execFileSync(process.execPath, ['--preserve-symlinks', '--preserve-symlinks-main', join(pkg, 'dist', 'cli', 'main.js'), '--version'], { cwd: app, encoding: 'utf8' });
    assert.equal(out.trim(), ownVersion);
  });

  test('a consumer with skipLibCheck: false compiles against the declarations', () => {
    for (const file of readdirSync(join(pkg, 'dist', 'tokenizer')).filter((f) => f.endsWith('.d.ts')))
      assert.doesNotMatch(readFileSync(join(pkg, 'dist', 'tokenizer', file), 'utf8'), /from 'tokenizers'|import\("tokenizers"\)/, file);
    writeFileSync(
      join(app, 'consumer.ts'),
      [
        "import { Policy, loadTokenizer, train, resolveConfig, dapoLoss, math17kTable, type TrainConfig, type TextTokenizer } from 'dapo';",
        'export async function main(): Promise<number> {',
        "  const policy = await Policy.load('builtin:tiny');",
        "  const tokenizer: TextTokenizer = policy.tokenizer ?? loadTokenizer('model');",
        '  const config: TrainConfig = resolveConfig({}, { steps: 1 });',
        '  void train; void dapoLoss; void math17kTable; void config;',
        "  return (await tokenizer.encode('1+1=')).length;",
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] },
        files: ['consumer.ts'],
      }),
    );
    const compiled = spawnSync(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { encoding: 'utf8', cwd: app });
    assert.equal(compiled.status, 0, compiled.stdout + compiled.stderr);
  });
});
