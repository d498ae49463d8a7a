import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageSize } from '../src/pipeline/image.js';
import { readPngText } from '../src/pipeline/png.js';
import { exited, spawnTs } from './helpers/spawn.js';
import { tempDir } from './helpers/tmp.js';

const t = tempDir();
afterAll(() => t.cleanup());
const env = {
  MODELS_DIR: path.join(import.meta.dirname, 'fixtures/models'),
  MODEL: 'flow-tiny',
  UPSCALER: 'sr-x4-tiny',
  DATA_DIR: t.dir,
};

async function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs('src/cli/main.ts', args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await exited(child);
  return { code, stdout, stderr };
}

describe('cli', () => {
  const grid = path.join(t.dir, 'grid.png');

  it('imagine writes a grid that carries its recipe', async () => {
    const result = await cli('imagine', 'a red apple --seed 3 --no worms', '--out', grid);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await imageSize(grid)).toEqual({ width: 128, height: 128 });
    const text = readPngText(readFileSync(grid));
    expect(text.parameters).toContain('a red apple\nNegative prompt: worms\nSteps: 4');
    expect(JSON.parse(text.flowbot!)).toMatchObject({ seed: 3, model: 'flow-tiny', operation: 'generate' });
  });

  it('vary, inpaint and upscale write PNGs of the right size', async () => {
    const varied = path.join(t.dir, 'vary.png');
    const painted = path.join(t.dir, 'inpaint.png');
    const upscaled = path.join(t.dir, 'up.png');
    expect((await cli('vary', grid, '--out', varied, '--strength', '0.6', '--seed', '5')).code).toBe(0);
    expect(JSON.parse(readPngText(readFileSync(varied)).flowbot!)).toMatchObject({
      operation: 'variation',
      strength: 0.6,
      seed: 5,
    });
    expect(
      (await cli('inpaint', varied, '--region', 'top left', '--prompt', 'a moon', '--out', painted)).code,
    ).toBe(0);
    expect((await cli('upscale', painted, '--out', upscaled, '--scale', '4')).code).toBe(0);
    expect(await imageSize(upscaled)).toEqual({ width: 512, height: 512 });
  });

  it('explains bad input and exits with status 2', async () => {
    const result = await cli(
      'inpaint',
      grid,
      '--region',
      'somewhere',
      '--prompt',
      'x',
      '--out',
      path.join(t.dir, 'x.png'),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('I don\'t know the region "somewhere"');
    const flags = await cli('imagine', 'a cat --stpes 3', '--out', path.join(t.dir, 'y.png'));
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain('Did you mean --steps?');
  });
});
