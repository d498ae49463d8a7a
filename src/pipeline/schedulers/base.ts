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

  /** Index used by add_noise: the begin index when set, else the timestep's own position. */
  protected noiseIndex(t: number): number {
    return this.beginIndex ?? indexForTimestep(this.timesteps, t);
  }

  protected resetWalk(): void {
    this.stepIndex = undefined;
    this.beginIndex = undefined;
  }
}
