/** The `--chaos` measurement: how different the cells of a grid are, over a fixed set of prompts. */
import type { RgbImage } from '../../src/pipeline/image.js';

/** Twenty prompts of things the shipped model knows. */
export const CHAOS_PROMPTS = [
  'a red apple',
  'a smiling face',
  'a cat',
  'a rocket',
  'a pizza',
  'a house',
  'a tree',
  'a heart',
  'a car',
  'a dog',
  'a sun',
  'a fish',
  'a guitar',
  'a flower',
  'a cake',
  'a ghost',
  'a star',
  'a banana',
  'a robot',
  'a snowman',
];

/** The chaos levels reported. */
export const CHAOS_LEVELS = [0, 25, 50, 100] as const;

/** Mean absolute difference (0–255) over every pair of images, averaged over the pairs. */
export function meanPairwiseDifference(images: readonly RgbImage[]): number {
  let total = 0;
  let pairs = 0;
  for (let a = 0; a < images.length; a++)
    for (let b = a + 1; b < images.length; b++) {
      const [x, y] = [images[a]!.pixels, images[b]!.pixels];
      let sum = 0;
      for (let i = 0; i < x.length; i++) sum += Math.abs(x[i]! - y[i]!);
      total += sum / x.length;
      pairs++;
    }
  return pairs === 0 ? 0 : total / pairs;
}
