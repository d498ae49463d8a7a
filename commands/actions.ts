/**
 * Button ids. Every id carries the action and the image id (and a grid cell), so a button works after
 * a restart: it is resolved through the store, never through memory. Format: `fb:<action>:<image>[:<cell>]`.
 */
import type { ButtonSpec } from './types.js';

/** What a button does. */
export type ActionName =
  | 'upscale' // U1–U4 on grids (cell), Upscale x2/x4 on singles (cell = scale)
  | 'upscale_creative'
  | 'vary' // V1–V4 on grids
  | 'vary_subtle'
  | 'vary_strong'
  | 'reroll'
  | 'region' // opens the region form
  | 'region_submit' // the region form's answer
  | 'remix_submit' // the remix form's answer (cell = which action it continues)
  | 'zoom' // Zoom Out (cell = 15 for 1.5×, 20 for 2×)
  | 'pan' // ⬅️ ➡️ ⬆️ ⬇️ (cell = 1–4)
  | 'enhance'; // a --draft made again at full steps with the same seed

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
};
const NAMES = new Map(Object.entries(CODES).map(([name, code]) => [code, name as ActionName]));

/** A decoded button id. */
export interface ActionId {
  readonly action: ActionName;
  readonly imageId: string;
  readonly cell?: number;
}

/** Encodes a button id. */
export function encodeAction({ action, imageId, cell }: ActionId): string {
  return `fb:${CODES[action]}:${imageId}${cell === undefined ? '' : `:${cell}`}`;
}

/** Decodes a button id; undefined for ids that are not flowbot's. */
export function decodeAction(customId: string): ActionId | undefined {
  const match = /^fb:([a-z]{1,3}):([a-z0-9]{4,12})(?::(\d{1,2}))?$/.exec(customId);
  if (!match) return undefined;
  const action = NAMES.get(match[1]!);
  if (!action) return undefined;
  return { action, imageId: match[2]!, ...(match[3] !== undefined ? { cell: Number(match[3]) } : {}) };
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
      customId: encodeAction({ action: 'upscale', imageId, cell: 2 }),
      label: 'Upscale x2',
      style: 'secondary',
      row: 1,
    },
    {
      customId: encodeAction({ action: 'upscale', imageId, cell: 4 }),
      label: 'Upscale x4',
      style: 'secondary',
      row: 1,
    },
    {
      customId: encodeAction({ action: 'upscale_creative', imageId, cell: 2 }),
      label: 'Upscale (Creative)',
      style: 'secondary',
      row: 1,
    },
    { customId: encodeAction({ action: 'reroll', imageId }), label: '🔄', style: 'secondary', row: 1 },
    {
      customId: encodeAction({ action: 'zoom', imageId, cell: 20 }),
      label: 'Zoom Out 2x',
      style: 'secondary',
      row: 2,
    },
    {
      customId: encodeAction({ action: 'zoom', imageId, cell: 15 }),
      label: 'Zoom Out 1.5x',
      style: 'secondary',
      row: 2,
    },
    ...['⬅️', '➡️', '⬆️', '⬇️'].map(
      (label, i): ButtonSpec => ({
        customId: encodeAction({ action: 'pan', imageId, cell: i + 1 }),
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
