// Dynamic sampling (DAPO section 3.2): a group whose responses are all right or all wrong has
// zero advantage everywhere and teaches nothing, so it is dropped, and generation continues
// until the training batch holds enough groups that do teach something.
import type { Group } from './types.js';

/** A group is kept when its responses disagree on correctness (0 < #correct < G). */
export function isInformative(group: Group): boolean {
  const correct = group.rollouts.filter((r) => r.acc).length;
  return correct > 0 && correct < group.rollouts.length;
}

export interface CollectorStats {
  generatedGroups: number;
  keptGroups: number;
  droppedAllCorrect: number;
  droppedAllWrong: number;
  /** Generated groups with every response right, or every one wrong, whether dropped or not. */
  allCorrect: number;
  allWrong: number;
}

/**
 * Gathers groups across generation batches until `target` are kept. Surplus groups beyond the
 * target are carried to the next step when `keepSurplus` is set, else discarded.
 */
export class GroupCollector {
  private kept: Group[];
  readonly stats: CollectorStats = { generatedGroups: 0, keptGroups: 0, droppedAllCorrect: 0, droppedAllWrong: 0, allCorrect: 0, allWrong: 0 };

  constructor(
    readonly target: number,
    readonly filter: boolean,
    carried: Group[] = [],
  ) {
    this.kept = [...carried];
  }

  get size(): number {
    return this.kept.length;
  }

  get full(): boolean {
    return this.kept.length >= this.target;
  }

  add(groups: Group[]): void {
    for (const group of groups) {
      this.stats.generatedGroups++;
      const informative = isInformative(group);
      const allCorrect = !informative && group.rollouts.every((r) => r.acc);
      if (!informative) this.stats[allCorrect ? 'allCorrect' : 'allWrong']++;
      if (this.filter && !informative) {
        if (allCorrect) this.stats.droppedAllCorrect++;
        else this.stats.droppedAllWrong++;
        continue;
      }
      this.kept.push(group);
      this.stats.keptGroups++;
    }
  }

  /** The groups to train on (at most `target`) and the surplus beyond them. */
  take(): { batch: Group[]; surplus: Group[] } {
    return { batch: this.kept.slice(0, this.target), surplus: this.kept.slice(this.target) };
  }

  /** Share of generated groups whose responses all agree on correctness, dropped or not. */
  get allEqualRate(): number {
    const s = this.stats;
    return s.generatedGroups === 0 ? 0 : (s.allCorrect + s.allWrong) / s.generatedGroups;
  }

  /** Share of generated groups that were dropped (0 when nothing was generated). */
  get resampleRate(): number {
    const s = this.stats;
    return s.generatedGroups === 0 ? 0 : (s.droppedAllCorrect + s.droppedAllWrong) / s.generatedGroups;
  }
}
