/**
 * nsfwjs itself (4.4.0, the package the ONNX model was converted from) on TensorFlow.js's pure-JS CPU
 * backend: the reference flowbot's classifier is held to.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { load, type NSFWJS } from 'nsfwjs/core';
import { MobileNetV2Model } from 'nsfwjs/models/mobilenet_v2';

/** The model, loaded once per process. */
export async function loadNsfwjs(): Promise<NSFWJS> {
  await tf.setBackend('cpu');
  // nsfwjs announces the model it loads on the console; the suite's output stays quiet.
  const info = console.info;
  console.info = () => undefined;
  try {
    const name: string = MobileNetV2Model.name; // the overload that takes model definitions
    return await load(name, { modelDefinitions: [MobileNetV2Model] });
  } finally {
    console.info = info;
  }
}

/** nsfwjs' class probabilities (Drawing, Hentai, Neutral, Porn, Sexy) for a prepared 224² tensor. */
export async function nsfwjsProbabilities(
  model: NSFWJS,
  input: Float32Array,
  side = 224,
): Promise<Float32Array> {
  const batch = tf.tensor4d(input, [1, side, side, 3]);
  const out = model.model.predict(batch) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  batch.dispose();
  out.dispose();
  return data;
}

/**
 * nsfwjs' own classification of a decoded image (its own resize: TF.js bilinear, align corners), as
 * probabilities in class order: for checking that flowbot's sharp resize is a sensible stand-in.
 */
export async function nsfwjsClassify(
  model: NSFWJS,
  rgb: Uint8Array,
  width: number,
  height: number,
): Promise<Float32Array> {
  const image = tf.tensor3d(rgb, [height, width, 3], 'int32');
  const out = model.infer(image) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  image.dispose();
  out.dispose();
  return data;
}

/** The versions that made a reference. */
export function nsfwjsVersions(): { nsfwjs: string; tfjs: string } {
  const require = createRequire(import.meta.url);
  const tfjs = (require('@tensorflow/tfjs/package.json') as { version: string }).version;
  return { nsfwjs: '4.4.0', tfjs };
}
