/**
 * Button ids. Every id carries the action and the image id (and one number), so a button works after a
 * restart: it is resolved through the store, never through memory. Format: `fb:<action>:<image>[:<n>]`,
 * where the number means what the action needs: a grid's cell, an upscale factor, a zoom factor, a pan
 * direction or the action a remix continues. Decoded, each has a field of its own ({@link ActionId}).
 */
import type { ButtonSpec } from './types.js';

/** What a button does. */
export type ActionName =
  | 'upscale' // U1–U4 on grids (cell), Upscale x2/x4 on singles (scale)
  | 'upscale_creative'
  | 'vary' // V1–V4 on grids
  | 'vary_subtle'
  | 'vary_strong'
  | 'reroll'
  | 'region' // opens the region form
  | 'region_submit' // the region form's answer
  | 'remix_submit' // the remix form's answer (continues, cell)
  | 'zoom' // Zoom Out (zoom)
  | 'pan' // ⬅️ ➡️ ⬆️ ⬇️ (direction)
  | 'enhance' // a --draft made again at full steps with the same seed
  | 'reveal'; // "Show": the original of an image shown blurred by image moderation

/** The directions a pan extends an image to, in button order. */
export const PAN_DIRECTIONS = ['left', 'right', 'up', 'down'] as const;
export type PanDirection = (typeof PAN_DIRECTIONS)[number];

/** The actions a remix form continues, by their code in the form's id. */
const REMIX_CODES = { vary: 1, reroll: 2, vary_subtle: 3, vary_strong: 4 } as const;
export type RemixAction = keyof typeof REMIX_CODES;
const REMIX_ACTIONS: readonly RemixAction[] = ['vary', 'reroll', 'vary_subtle', 'vary_strong'];

/** True for the actions a remix form may continue. */
export function isRemixAction(action: ActionName): action is RemixAction {
  return REMIX_ACTIONS.some((name) => name === action);
}

const CODES: Record<ActionName, string> = {
  upscale: 'u',
  upscale_creative: 'uc',
  vary: 'v',
  vary_subtle: 'vs',
  vary_strong: 'vx',
  reroll: 'r',
  region: 'rg',
  region_submit: 'rgs',
  remix_submit: 'rm',
  zoom: 'z',
  pan: 'p',
  enhance: 'e',
  reveal: 'sh',
};
/** A single image's Upscale x2/x4: its own code, so that the number is never mistaken for a cell. */
const UPSCALE_BY = 'ux';
const NAMES = new Map(Object.entries(CODES).map(([name, code]) => [code, name as ActionName]));

/** A decoded button id. */
export interface ActionId {
  readonly action: ActionName;
  readonly imageId: string;
  /** A grid's cell, 1–4 (U1–U4, V1–V4, the cell a remix continues). */
  readonly cell?: number;
  /** A single image's upscale factor. */
  readonly scale?: 2 | 4;
  /** A Zoom Out factor. */
  readonly zoom?: 1.5 | 2;
  readonly direction?: PanDirection;
  /** The action a remix form continues. */
  readonly continues?: RemixAction;
}

/** Encodes a button id. */
export function encodeAction(id: ActionId): string {
  const code = id.action === 'upscale' && id.scale !== undefined ? UPSCALE_BY : CODES[id.action];
  const number = numberOf(id);
  return `fb:${code}:${id.imageId}${number === undefined ? '' : `:${number}`}`;
}

/** The one number a button id carries for its action. */
function numberOf(id: ActionId): number | undefined {
  if (id.scale !== undefined) return id.scale;
  if (id.zoom !== undefined) return Math.round(id.zoom * 10);
  if (id.direction !== undefined) return PAN_DIRECTIONS.indexOf(id.direction) + 1;
  if (id.continues !== undefined) return REMIX_CODES[id.continues] * 10 + (id.cell ?? 0);
  return id.cell;
}

/**
 * Decodes a button id; undefined for ids that are not flowbot's. Ids of older buttons decode too: their
 * numbers meant the same. (An older single image's upscale carried its factor as `cell`: see bot.ts.)
 */
export function decodeAction(customId: string): ActionId | undefined {
  const match = /^fb:([a-z]{1,3}):([a-z0-9]{4,12})(?::(\d{1,2}))?$/.exec(customId);
  if (!match) return undefined;
  const imageId = match[2]!;
  const number = match[3] === undefined ? undefined : Number(match[3]);
  if (match[1] === UPSCALE_BY) return { action: 'upscale', imageId, scale: number === 4 ? 4 : 2 };
  const action = NAMES.get(match[1]!);
  if (!action) return undefined;
  return { action, imageId, ...fieldsOf(action, number) };
}

/** What an action's number means. */
function fieldsOf(action: ActionName, number: number | undefined): Omit<ActionId, 'action' | 'imageId'> {
  if (number === undefined) return {};
  switch (action) {
    case 'zoom':
      return { zoom: number === 15 ? 1.5 : 2 };
    case 'pan':
      return { direction: PAN_DIRECTIONS[Math.min(3, Math.max(0, number - 1))]! };
    case 'remix_submit': {
      const code = Math.floor(number / 10);
      const continues = REMIX_ACTIONS.find((name) => REMIX_CODES[name] === code);
      const cell = number % 10;
      return { continues: continues ?? 'vary', ...(cell > 0 ? { cell } : {}) };
    }
    case 'upscale_creative':
      return {};
    default:
      return { cell: number };
  }
}

/** "Show" above an image shown blurred: its original, to the person who presses it. */
export function revealButton(imageId: string): ButtonSpec {
  return {
    customId: encodeAction({ action: 'reveal', imageId }),
    label: 'Show',
    style: 'secondary',
    row: -1,
  };
}

/** "Enhance" under a draft: the full image with the same seed. */
function enhanceButton(imageId: string, row: number): ButtonSpec {
  return { customId: encodeAction({ action: 'enhance', imageId }), label: 'Enhance', style: 'primary', row };
}

/** U1–U4, V1–V4, reroll and Vary region under a grid (and Enhance under a draft). */
export function gridButtons(gridId: string, cells: number, regionUrl?: string, draft = false): ButtonSpec[] {
  const buttons: ButtonSpec[] = [];
  for (let i = 1; i <= cells; i++)
    buttons.push({
      customId: encodeAction({ action: 'upscale', imageId: gridId, cell: i }),
      label: `U${i}`,
      style: 'secondary',
      row: 0,
    });
  buttons.push({
    customId: encodeAction({ action: 'reroll', imageId: gridId }),
    label: '🔄',
    style: 'secondary',
    row: 0,
  });
  for (let i = 1; i <= cells; i++)
    buttons.push({
      customId: encodeAction({ action: 'vary', imageId: gridId, cell: i }),
      label: `V${i}`,
      style: 'secondary',
      row: 1,
    });
  buttons.push(regionButton(gridId, regionUrl, 1));
  if (draft) buttons.push(enhanceButton(gridId, 2));
  return buttons;
}

/** Vary (Subtle/Strong), Upscale x2/x4 (and creative), Vary region, reroll under a single image. */
export function singleButtons(imageId: string, regionUrl?: string, draft = false): ButtonSpec[] {
  return [
    ...(draft ? [enhanceButton(imageId, 0)] : []),
    {
      customId: encodeAction({ action: 'vary_subtle', imageId }),
      label: 'Vary (Subtle)',
      style: 'primary',
      row: 0,
    },
    {
      customId: encodeAction({ action: 'vary_strong', imageId }),
      label: 'Vary (Strong)',
      style: 'primary',
      row: 0,
    },
    regionButton(imageId, regionUrl, 0),
    {
      customId: encodeAction({ action: 'upscale', imageId, scale: 2 }),
      label: 'Upscale x2',
      style: 'secondary',
      row: 1,
    },
    {
      customId: encodeAction({ action: 'upscale', imageId, scale: 4 }),
      label: 'Upscale x4',
      style: 'secondary',
      row: 1,
    },
    {
      customId: encodeAction({ action: 'upscale_creative', imageId }),
      label: 'Upscale (Creative)',
      style: 'secondary',
      row: 1,
    },
    { customId: encodeAction({ action: 'reroll', imageId }), label: '🔄', style: 'secondary', row: 1 },
    {
      customId: encodeAction({ action: 'zoom', imageId, zoom: 2 }),
      label: 'Zoom Out 2x',
      style: 'secondary',
      row: 2,
    },
    {
      customId: encodeAction({ action: 'zoom', imageId, zoom: 1.5 }),
      label: 'Zoom Out 1.5x',
      style: 'secondary',
      row: 2,
    },
    ...['⬅️', '➡️', '⬆️', '⬇️'].map(
      (label, i): ButtonSpec => ({
        customId: encodeAction({ action: 'pan', imageId, direction: PAN_DIRECTIONS[i]! }),
        label,
        style: 'secondary',
        row: 3,
      }),
    ),
  ];
}

function regionButton(imageId: string, url: string | undefined, row: number): ButtonSpec {
  return url
    ? { customId: encodeAction({ action: 'region', imageId }), label: 'Vary region', style: 'link', url, row }
    : {
        customId: encodeAction({ action: 'region', imageId }),
        label: 'Vary region',
        style: 'secondary',
        row,
      };
}
