// The README's loss example runs as written (against the compiled package, imported by name).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { packageRoot } from '../src/native.js';

test('the README loss example runs and prints a finite loss', () => {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const example = blocks.find((b) => b.includes('dapoLoss({'));
  assert.ok(example, 'README has a js block calling dapoLoss');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', example!], { cwd: packageRoot, encoding: 'utf8' });
  const loss = Number(out.trim().split(/\s+/)[0]);
  assert.ok(Number.isFinite(loss), `printed: ${out}`);
  assert.match(out, /clipFracLow/);
});
