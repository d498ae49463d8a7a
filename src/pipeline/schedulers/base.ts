import { indexForTimestep } from './common.js';

/** Step-index bookkeeping shared by the schedulers that walk a fixed schedule. */
export abstract class ScheduleWalker {
  timesteps: number[] = [];
  protected stepIndex: number | undefined;
  protected beginIndex: number | undefined;

  setBeginIndex(index: number): void {
    this.beginIndex = index;
  }

  /** Index of the current step, set on the first call from the timestep (diffusers' _init_step_index). */
  protected currentIndex(t: number): number {
    if (this.stepIndex === undefined) this.stepIndex = this.beginIndex ?? indexForTimestep(this.timesteps, t);
    return this.stepIndex;
  }

  /**
   * Index used by add_noise, as diffusers picks it: the timestep's own position when no begin index is
   * set; the current step once stepping has begun (inpainting re-noises the known region after each
   * step); else the begin index (the img2img start).
   */
  protected noiseIndex(t: number): number {
    if (this.beginIndex === undefined) return indexForTimestep(this.timesteps, t);
    return this.stepIndex ?? this.beginIndex;
  }

  protected resetWalk(): void {
    this.stepIndex = undefined;
    this.beginIndex = undefined;
  }
}
