#!/usr/bin/env node
// The dapo command line: one command per file in src/cli/commands.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from '../native.js';
import { compareCommand } from './commands/compare.js';
import { evalCommand } from './commands/eval.js';
import { plotCommand } from './commands/plot.js';
import { trainCommand } from './commands/train.js';

// yargs would read the version from the package.json nearest the working directory (the
// user's project): state dapo's own.
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

await yargs(hideBin(process.argv))
  .scriptName('dapo')
  .version(version)
  .command(trainCommand)
  .command(evalCommand)
  .command(plotCommand)
  .command(compareCommand)
  .demandCommand(1, 'name a command: train, eval, plot or compare')
  .strict()
  .wrap(Math.min(110, process.stdout.columns ?? 110))
  .fail((message, error, y) => {
    if (error) {
      const code = (error as { code?: string }).code;
      console.error(`dapo: ${error.message}${code ? ` (${code})` : ''}`);
    } else {
      y.showHelp();
      console.error(`\ndapo: ${message}`);
    }
    process.exit(1);
  })
  .parseAsync();
