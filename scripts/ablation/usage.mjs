// Preloaded into each ablation run (node --import): at exit, writes the process's own CPU
// time (user and system, all threads) to $DAPO_USAGE_FILE, so runs are costed in CPU time
// even on a machine shared with other work.
import { writeFileSync } from 'node:fs';

const file = process.env.DAPO_USAGE_FILE;
if (file)
  process.on('exit', () => {
    const u = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ userSeconds: u.userCPUTime / 1e6, systemSeconds: u.systemCPUTime / 1e6, maxRssKb: u.maxRSS }) + '\n');
  });
