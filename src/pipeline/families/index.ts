/**
 * The family registry: which module reads a model folder. A flowbot manifest (`model.json`) is ours;
 * an optimum export (`model_index.json`) is picked by its `_class_name`, or, for a class we do not
 * know, by the components it has.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../log.js';
import { DiffusersFolder, folderError } from '../folder.js';
import { flowbotManifest } from './flowbot.js';
import { flux } from './flux.js';
import { stableDiffusion } from './sd.js';
import { stableDiffusion3 } from './sd3.js';
import { stableDiffusionXL } from './sdxl.js';
import type { FamilyId, ModelFamily, ModelSpec } from './types.js';

export type * from './types.js';

const log = createLogger('model');

/** Every family flowbot runs; adding one is adding its module here. */
export const FAMILIES: readonly ModelFamily[] = [
  stableDiffusion,
  stableDiffusionXL,
  stableDiffusion3,
  flux,
  flowbotManifest,
];

/** The family module of a spec. */
export function familyOf(spec: ModelSpec): ModelFamily {
  return familyById(spec.family);
}

function familyById(id: FamilyId): ModelFamily {
  return FAMILIES.find((family) => family.id === id)!;
}

/** Guesses the family of an export whose pipeline class we do not know, from its components. */
function familyFromComponents(dir: string): ModelFamily {
  const has = (component: string) => existsSync(path.join(dir, component));
  if (has('transformer')) return has('text_encoder_3') ? stableDiffusion3 : flux;
  return has('text_encoder_2') ? stableDiffusionXL : stableDiffusion;
}

function diffusersFamily(dir: string): ModelFamily {
  const pipelineClass = new DiffusersFolder(dir).pipelineClass;
  const known = FAMILIES.find((family) => family.pipelineClasses.includes(pipelineClass));
  if (known) return known;
  const guessed = familyFromComponents(dir);
  if (pipelineClass) {
    log.info('unknown pipeline class; reading the folder by its components', {
      dir,
      pipelineClass,
      family: guessed.id,
    });
  }
  return guessed;
}

/** Reads the model folder `dir`, whichever family it holds. */
export function loadModelSpec(dir: string): ModelSpec {
  if (!existsSync(dir)) throw folderError(dir, 'model folder not found');
  if (existsSync(path.join(dir, 'model.json'))) return flowbotManifest.readSpec(dir);
  if (existsSync(path.join(dir, 'model_index.json'))) return diffusersFamily(dir).readSpec(dir);
  throw folderError(
    dir,
    'not a model folder: it has neither model.json (flowbot) nor model_index.json (diffusers ONNX)',
  );
}
