/**
 * Schedulers compatible with diffusers' `scheduler_config.json`; `_class_name` picks the scheduler.
 * They reproduce diffusers' trajectories (checked against reference vectors in the tests).
 */
import type { Scheduler, SchedulerConfig } from './common.js';
import { DdimScheduler } from './ddim.js';
import { DpmSolverMultistepScheduler } from './dpmsolver.js';
import { EulerAncestralScheduler, EulerScheduler } from './euler.js';
import { FlowMatchEulerScheduler } from './flowmatch.js';
import { LcmScheduler } from './lcm.js';
import { PndmScheduler } from './pndm.js';

export type {
  PredictionType,
  Sample,
  Scheduler,
  SchedulerConfig,
  StepOptions,
  StepResult,
} from './common.js';

const FACTORIES: Record<string, (config: SchedulerConfig) => Scheduler> = {
  DDIMScheduler: (config) => new DdimScheduler(config),
  EulerDiscreteScheduler: (config) => new EulerScheduler(config),
  EulerAncestralDiscreteScheduler: (config) => new EulerAncestralScheduler(config),
  DPMSolverMultistepScheduler: (config) => new DpmSolverMultistepScheduler(config),
  LCMScheduler: (config) => new LcmScheduler(config),
  PNDMScheduler: (config) => new PndmScheduler(config),
  FlowMatchEulerDiscreteScheduler: (config) => new FlowMatchEulerScheduler(config),
};

/** The `_class_name` values understood by {@link createScheduler}. */
export const SCHEDULER_CLASSES: readonly string[] = Object.keys(FACTORIES);

/**
 * Whether {@link createScheduler} runs this config as the folder asks: a known class, and for PNDM the
 * PLMS variant (`skip_prk_steps`, as Stable Diffusion ships it; the Runge–Kutta warm-up is not implemented).
 */
export function runsAsConfigured(config: SchedulerConfig): boolean {
  const className = config._class_name;
  if (typeof className !== 'string' || !FACTORIES[className]) return false;
  return className !== 'PNDMScheduler' || config.skip_prk_steps === true;
}

/** Config key naming the folder's own scheduler when flowbot runs another in its place. */
export const FOLDER_SCHEDULER_KEY = '_flowbot_instead_of';

/**
 * How results name the scheduler that ran: "EulerDiscreteScheduler:for:X" for a stand-in. Results
 * cross the Redis boundary, whose schema takes a name of letters, digits and `_.:+-` (64 at most).
 */
export function schedulerLabel(config: SchedulerConfig, scheduler: Scheduler): string {
  const asked = config[FOLDER_SCHEDULER_KEY];
  return typeof asked === 'string' ? `${scheduler.className}:for:${asked}`.slice(0, 64) : scheduler.className;
}

/** diffusers' own default `timestep_spacing` of each class. */
const DEFAULT_SPACING: Readonly<Record<string, string>> = {
  PNDMScheduler: 'leading',
  DDIMScheduler: 'leading',
  LCMScheduler: 'leading',
  EulerDiscreteScheduler: 'linspace',
  EulerAncestralDiscreteScheduler: 'linspace',
  DPMSolverMultistepScheduler: 'linspace',
};

/**
 * A folder's config as another scheduler class's `from_config` reads it in diffusers. There, a key the
 * checkpoint never set is a default, and the new class uses its own default instead. optimum's export
 * writes every default out, so a `timestep_spacing` equal to the folder class's own default is taken
 * as unset: SD 1.5's PNDM config has none, and diffusers converts it to Euler sampling on "linspace",
 * not PNDM's "leading" (SDXL's Euler config sets "leading" explicitly, and keeps it).
 */
export function convertibleConfig(config: SchedulerConfig): SchedulerConfig {
  const className = config._class_name;
  const ownDefault = typeof className === 'string' ? DEFAULT_SPACING[className] : undefined;
  if (ownDefault === undefined || config.timestep_spacing !== ownDefault) return config;
  const { timestep_spacing: _default, ...rest } = config;
  return rest;
}

/** Creates the scheduler a diffusers scheduler config names. */
export function createScheduler(config: SchedulerConfig): Scheduler {
  const className = config._class_name;
  const factory = typeof className === 'string' ? FACTORIES[className] : undefined;
  if (!factory) {
    throw new Error(
      `Unsupported scheduler ${JSON.stringify(className)}: expected one of ${SCHEDULER_CLASSES.join(', ')}`,
    );
  }
  return factory(config);
}

/**
 * The timesteps an img2img run visits for `strength` (diffusers' get_timesteps), with the begin index
 * set on the scheduler. `setTimesteps(steps)` must have been called. `start` is the family's rounding
 * (SD/SDXL floor N·strength; SD3 and FLUX take N − N·strength unrounded, then truncate).
 */
export function img2imgTimesteps(
  scheduler: Scheduler,
  steps: number,
  strength: number,
  start: 'floor' | 'unrounded' = 'floor',
): number[] {
  const skipped =
    start === 'floor'
      ? Math.max(steps - Math.min(Math.floor(steps * strength), steps), 0)
      : Math.trunc(Math.max(steps - Math.min(steps * strength, steps), 0));
  const first = skipped * scheduler.order;
  scheduler.setBeginIndex(first);
  return scheduler.timesteps.slice(first);
}
