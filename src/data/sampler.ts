// Prompt order: a seeded shuffle per epoch and a cursor (epoch, index) that a
// checkpoint stores, so a resumed run hands out exactly the prompts a straight run would.
import { DatasetError } from './errors.js';
import { epochPermutation } from './rng.js';

export interface DataCursor {
  /** Epoch of the next prompt (0-based). */
  epoch: number;
  /** Position of the next prompt within that epoch's order. */
  index: number;
  /** What the order depends on, checked on restore. */
  seed: number;
  size: number;
  shuffle: boolean;
}

export interface SamplerOptions {
  seed?: number;
  /** Shuffle each epoch (default true); false walks the rows in file order. */
  shuffle?: boolean;
  /** Number of passes over the data (default Infinity: never done). */
  epochs?: number;
}

export class PromptSampler {
  readonly size: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly epochs: number;
  private epoch = 0;
  private index = 0;
  private order: Uint32Array | null = null;
  private orderEpoch = -1;

  constructor(size: number, options: SamplerOptions = {}, cursor?: DataCursor) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`size must be a positive integer, got ${size}`);
    this.size = size;
    this.seed = options.seed ?? 0;
    this.shuffle = options.shuffle ?? true;
    this.epochs = options.epochs ?? Infinity;
    if (!(this.epochs > 0)) throw new RangeError(`epochs must be > 0, got ${this.epochs}`);
    if (!Number.isFinite(this.seed)) throw new TypeError(`seed must be a finite number, got ${this.seed}`);
    if (cursor) this.restore(cursor);
  }

  /** True once every epoch has been handed out. */
  get done(): boolean {
    return this.epoch >= this.epochs;
  }

  /** The position to save in a checkpoint. */
  get cursor(): DataCursor {
    return { epoch: this.epoch, index: this.index, seed: this.seed, size: this.size, shuffle: this.shuffle };
  }

  restore(cursor: DataCursor): void {
    const bad = (why: string) => new DatasetError('E_DATA_BAD_CURSOR', `cannot resume the data order: ${why}`);
    if (cursor.size !== this.size) throw bad(`the checkpoint saw ${cursor.size} prompts, the dataset now has ${this.size} (different file or filters?)`);
    if (cursor.seed !== this.seed) throw bad(`the checkpoint used seed ${cursor.seed}, this run ${this.seed}`);
    if (cursor.shuffle !== this.shuffle) throw bad(`the checkpoint had shuffle=${cursor.shuffle}, this run ${this.shuffle}`);
    if (!Number.isInteger(cursor.epoch) || cursor.epoch < 0 || !Number.isInteger(cursor.index) || cursor.index < 0 || cursor.index >= this.size) {
      throw bad(`invalid position epoch ${cursor.epoch}, index ${cursor.index}`);
    }
    this.epoch = cursor.epoch;
    this.index = cursor.index;
  }

  private orderFor(epoch: number): Uint32Array {
    if (this.orderEpoch !== epoch || !this.order) {
      if (this.shuffle) this.order = epochPermutation(this.size, this.seed, epoch);
      else {
        this.order = new Uint32Array(this.size);
        for (let i = 0; i < this.size; i++) this.order[i] = i;
      }
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  /** The epoch the next prompt comes from (for metrics). */
  get currentEpoch(): number {
    return this.epoch;
  }

  /**
   * The next n row ids, crossing into the next epoch when one ends. Fewer than n (possibly
   * none) only when the last epoch runs out.
   */
  next(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
    const out: number[] = [];
    while (out.length < n && !this.done) {
      const order = this.orderFor(this.epoch);
      out.push(order[this.index]);
      if (++this.index === this.size) {
        this.index = 0;
        this.epoch++;
      }
    }
    return out;
  }
}
