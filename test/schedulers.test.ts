import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowMatchEulerScheduler } from '../src/pipeline/schedulers/flowmatch.js';
import { createScheduler, img2imgTimesteps, type SchedulerConfig } from '../src/pipeline/schedulers/index.js';

interface Case {
  scheduler: string;
  config: Record<string, unknown>;
  num_inference_steps: number;
  timesteps: number[];
  sigmas?: number[];
  init_noise_sigma: number;
  initial_sample?: number[];
  final_sample?: number[];
  steps?: { t: number; model_input: number[]; prev_sample: number[] }[];
}
interface Img2ImgCase {
  scheduler: string;
  config: Record<string, unknown>;
  num_inference_steps: number;
  strength: number;
  timesteps_used: number[];
  clean: number[];
  noise: number[];
  noisy_start: number[];
}

const vectors = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'fixtures/vectors/scheduler-vectors.json'), 'utf8'),
) as { cases: Case[]; img2img: Img2ImgCase[] };

const model = (x: Float64Array, t: number) =>
  x.map((v) => 0.3 * Math.tanh(v) + 0.05 * Math.cos(0.01 * t) - 0.02 * v);

/** Largest relative error, with an absolute floor for values near zero. */
function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    worst = Math.max(worst, Math.abs(actual[i]! - e) / Math.max(Math.abs(e), 1e-6));
  }
  return worst;
}

const config = (c: { scheduler: string; config: Record<string, unknown> }): SchedulerConfig => ({
  _class_name: c.scheduler,
  ...c.config,
});

describe('schedulers match diffusers (float64 reference vectors)', () => {
  for (const c of vectors.cases) {
    const label = `${c.scheduler} ${JSON.stringify(c.config.timestep_spacing ?? c.config.shift ?? '')} ×${c.num_inference_steps}`;
    it(label, () => {
      const scheduler = createScheduler(config(c));
      scheduler.setTimesteps(c.num_inference_steps);
      expect(maxRelativeError(scheduler.timesteps, c.timesteps)).toBeLessThan(1e-6);
      if (c.sigmas) expect(maxRelativeError(scheduler.sigmas!, c.sigmas)).toBeLessThan(1e-6);
      expect(Math.abs(scheduler.initNoiseSigma - c.init_noise_sigma) / c.init_noise_sigma).toBeLessThan(1e-6);
      if (!c.steps || !c.initial_sample || !c.final_sample) return;
      let sample = Float64Array.from(c.initial_sample);
      c.steps.forEach((step, i) => {
        expect(scheduler.timesteps[i]).toBeCloseTo(step.t, 3);
        const input = scheduler.scaleModelInput(sample, step.t);
        expect(maxRelativeError(input, step.model_input), `model input of step ${i}`).toBeLessThan(1e-6);
        sample = scheduler.step(model(input, step.t), step.t, sample).prevSample;
        expect(maxRelativeError(sample, step.prev_sample), `prev sample of step ${i}`).toBeLessThan(1e-6);
      });
      expect(maxRelativeError(sample, c.final_sample)).toBeLessThan(1e-6);
    });
  }

  for (const c of vectors.img2img) {
    it(`img2img start: ${c.scheduler} strength ${c.strength}`, () => {
      const scheduler = createScheduler(config(c));
      scheduler.setTimesteps(c.num_inference_steps);
      const used = img2imgTimesteps(scheduler, c.num_inference_steps, c.strength);
      expect(maxRelativeError(used, c.timesteps_used)).toBeLessThan(1e-6);
      const noisy = scheduler.addNoise(Float64Array.from(c.clean), Float64Array.from(c.noise), used[0]!);
      expect(maxRelativeError(noisy, c.noisy_start)).toBeLessThan(1e-6);
    });
  }
});

interface FlowPipelineCase extends Case {
  name: string;
  pipeline: { sigmas_passed: number[] | null; image_seq_len: number | null; mu: number | null };
}

const flowVectors = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'fixtures/vectors/flowmatch-dynamic-vectors.json'), 'utf8'),
) as { cases: FlowPipelineCase[] };

describe('FlowMatch Euler as the FLUX.1 and SD3.5 pipelines drive it (reference vectors)', () => {
  for (const c of flowVectors.cases) {
    it(c.name, () => {
      const scheduler = new FlowMatchEulerScheduler(config(c));
      const { sigmas_passed: sigmas, image_seq_len: seqLen, mu } = c.pipeline;
      if (mu !== null && seqLen !== null) expect(scheduler.muFor(seqLen)).toBeCloseTo(mu, 12);
      scheduler.setTimesteps(c.num_inference_steps, {
        ...(sigmas ? { sigmas } : {}),
        ...(mu !== null ? { mu } : {}),
      });
      expect(maxRelativeError(scheduler.timesteps, c.timesteps)).toBeLessThan(1e-6);
      expect(maxRelativeError(scheduler.sigmas, c.sigmas!)).toBeLessThan(1e-6);
      let sample = Float64Array.from(c.initial_sample!);
      c.steps!.forEach((step, i) => {
        expect(scheduler.timesteps[i]).toBeCloseTo(step.t, 3);
        sample = scheduler.step(model(sample, step.t), step.t, sample).prevSample;
        expect(maxRelativeError(sample, step.prev_sample), `prev sample of step ${i}`).toBeLessThan(1e-6);
      });
    });
  }

  it('refuses dynamic shifting without mu', () => {
    const scheduler = new FlowMatchEulerScheduler({ use_dynamic_shifting: true });
    expect(() => scheduler.setTimesteps(4)).toThrow(/needs mu/);
  });
});

describe('scheduler options beyond the vectors', () => {
  const sd = {
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    num_train_timesteps: 1000,
  };

  it('Karras sigmas run from σ_max to σ_min, decreasing', () => {
    for (const name of ['EulerDiscreteScheduler', 'DPMSolverMultistepScheduler']) {
      const scheduler = createScheduler({
        _class_name: name,
        ...sd,
        use_karras_sigmas: true,
        timestep_spacing: 'linspace',
      });
      scheduler.setTimesteps(10);
      const sigmas = scheduler.sigmas!;
      expect(sigmas).toHaveLength(11);
      for (let i = 1; i < 10; i++) expect(sigmas[i]!).toBeLessThan(sigmas[i - 1]!);
      expect(sigmas[0]).toBeCloseTo(14.6146, 3);
      expect(sigmas[10]).toBe(0);
      expect(scheduler.timesteps[0]).toBeCloseTo(999, 0);
    }
  });

  it('linear betas, v-prediction and DDIM eta are honoured', () => {
    const ddim = createScheduler({
      _class_name: 'DDIMScheduler',
      ...sd,
      beta_schedule: 'linear',
      prediction_type: 'v_prediction',
      clip_sample: false,
    });
    ddim.setTimesteps(10);
    expect(ddim.timesteps).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    const x = Float64Array.from([0.5, -0.5]);
    const deterministic = ddim.step(Float64Array.from([0.1, 0.2]), 900, x).prevSample;
    const noisy = ddim.step(Float64Array.from([0.1, 0.2]), 900, x, {
      eta: 1,
      noise: Float64Array.from([1, 1]),
    }).prevSample;
    expect(noisy[0]).not.toBeCloseTo(deterministic[0]!, 6);
  });

  it('LCM and Euler ancestral refuse to step without noise', () => {
    const lcm = createScheduler({ _class_name: 'LCMScheduler', ...sd });
    lcm.setTimesteps(4);
    expect(() => lcm.step(new Float64Array(2), 999, new Float64Array(2))).toThrow(/needs noise/);
    const ancestral = createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler', ...sd });
    ancestral.setTimesteps(4);
    expect(() => ancestral.step(new Float64Array(2), ancestral.timesteps[0]!, new Float64Array(2))).toThrow(
      /needs noise/,
    );
  });

  it('names what is wrong in a config', () => {
    expect(() => createScheduler({ _class_name: 'KDPM2DiscreteScheduler' })).toThrow(
      /Unsupported scheduler "KDPM2DiscreteScheduler"/,
    );
    expect(() => createScheduler({ _class_name: 'PNDMScheduler', skip_prk_steps: false })).toThrow(
      /only skip_prk_steps: true \(PLMS\) is implemented/,
    );
    expect(() => createScheduler({ _class_name: 'DDIMScheduler', beta_schedule: 'cosine' })).toThrow(
      /expected one of linear, scaled_linear, squaredcos_cap_v2 for beta_schedule but received "cosine"/,
    );
  });

  it('keeps Float32Array samples as Float32Array', () => {
    const flow = createScheduler({ _class_name: 'FlowMatchEulerDiscreteScheduler', shift: 3 });
    flow.setTimesteps(4);
    const out = flow.step(
      new Float32Array([1, 2]),
      flow.timesteps[0]!,
      new Float32Array([0.5, 0.5]),
    ).prevSample;
    expect(out).toBeInstanceOf(Float32Array);
  });
});
