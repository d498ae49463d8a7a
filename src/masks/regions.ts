/**
 * Region words → masks. People name what to repaint: "top left", "the left half", "centre",
 * "border", grid cells "A1 B2" of a 3×3 grid (letters are columns, digits rows), or rectangles in
 * percent "x 10-40% y 0-30%". Parsing returns a Result; the error lists what is valid.
 */
import { ErrorCode, UserError } from '../errors.js';
import { err, ok, type Result } from '../result.js';

/** A rectangle in fractions of the image, [x0, x1) × [y0, y1). */
export interface Rect {
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

/** A parsed region: where it came from, its normalised text, and its rectangles. */
export interface Region {
  readonly source: 'region' | 'cells' | 'rect';
  readonly spec: string;
  readonly rects: readonly Rect[];
}

const third = 1 / 3;
const NAMED: Record<string, readonly Rect[]> = {
  'top half': [{ x0: 0, x1: 1, y0: 0, y1: 0.5 }],
  'bottom half': [{ x0: 0, x1: 1, y0: 0.5, y1: 1 }],
  'left half': [{ x0: 0, x1: 0.5, y0: 0, y1: 1 }],
  'right half': [{ x0: 0.5, x1: 1, y0: 0, y1: 1 }],
  'top third': [{ x0: 0, x1: 1, y0: 0, y1: third }],
  'middle third': [{ x0: 0, x1: 1, y0: third, y1: 2 * third }],
  'bottom third': [{ x0: 0, x1: 1, y0: 2 * third, y1: 1 }],
  'left third': [{ x0: 0, x1: third, y0: 0, y1: 1 }],
  'center third': [{ x0: third, x1: 2 * third, y0: 0, y1: 1 }],
  'right third': [{ x0: 2 * third, x1: 1, y0: 0, y1: 1 }],
  'top left': [{ x0: 0, x1: 0.5, y0: 0, y1: 0.5 }],
  'top right': [{ x0: 0.5, x1: 1, y0: 0, y1: 0.5 }],
  'bottom left': [{ x0: 0, x1: 0.5, y0: 0.5, y1: 1 }],
  'bottom right': [{ x0: 0.5, x1: 1, y0: 0.5, y1: 1 }],
  center: [{ x0: 0.25, x1: 0.75, y0: 0.25, y1: 0.75 }],
  border: [
    { x0: 0, x1: 1, y0: 0, y1: 0.15 },
    { x0: 0, x1: 1, y0: 0.85, y1: 1 },
    { x0: 0, x1: 0.15, y0: 0, y1: 1 },
    { x0: 0.85, x1: 1, y0: 0, y1: 1 },
  ],
  top: [{ x0: 0, x1: 1, y0: 0, y1: 0.5 }],
  bottom: [{ x0: 0, x1: 1, y0: 0.5, y1: 1 }],
  left: [{ x0: 0, x1: 0.5, y0: 0, y1: 1 }],
  right: [{ x0: 0.5, x1: 1, y0: 0, y1: 1 }],
};

const SYNONYMS: [RegionPattern: RegExp, replacement: string][] = [
  [/\bcentre\b/g, 'center'],
  [/\bmiddle\b(?! third)/g, 'center'],
  [/\b(edges?|borders?|frame|outside)\b/g, 'border'],
  [/\bupper\b/g, 'top'],
  [/\blower\b/g, 'bottom'],
  [/\b(top|bottom)[- ]?(left|right)( corner| quarter| quadrant)?\b/g, '$1 $2'],
  [/\b(left|right)[- ](top|bottom)\b/g, '$2 $1'],
  [/\b(top|bottom|left|right) side\b/g, '$1'],
  [/\bcenter (third|column)\b/g, 'center third'],
];

/** Every named region, for help and error messages. */
export const REGION_NAMES: readonly string[] = [
  'top/bottom/left/right half',
  'top/middle/bottom third',
  'left/center/right third',
  'top left, top right, bottom left, bottom right',
  'center',
  'border (edges)',
  'grid cells A1–C3 (e.g. "A1 B2")',
  'a rectangle in percent, e.g. "x 10-40% y 0-30%"',
];

function invalid(text: string): UserError {
  return new UserError(
    ErrorCode.FlagValue,
    `I don't know the region "${text}". Try one of: ${REGION_NAMES.join('; ')}.`,
    { region: text, valid: REGION_NAMES },
  );
}

function normalise(text: string): string {
  let out = text
    .toLowerCase()
    .replace(/^\s*(in|on|at)?\s*(the)?\s*/, '')
    .replace(/\s+(part|area|region|section|portion)\s*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  for (const [pattern, replacement] of SYNONYMS) out = out.replace(pattern, replacement);
  return out;
}

/** Parses region words. */
export function parseRegion(text: string): Result<Region, UserError> {
  const raw = text.trim();
  if (raw === '') return err(invalid(raw));
  const cells = raw.toUpperCase().match(/^[A-C][1-3](?:[\s,]+(?:AND\s+)?[A-C][1-3])*$/);
  if (cells) {
    const names = [...new Set(raw.toUpperCase().match(/[A-C][1-3]/g)!)].sort();
    const rects = names.map((cell) => {
      const column = cell.charCodeAt(0) - 65;
      const row = Number(cell[1]) - 1;
      return { x0: column * third, x1: (column + 1) * third, y0: row * third, y1: (row + 1) * third };
    });
    return ok({ source: 'cells', spec: names.join(' '), rects });
  }
  const rect = /^x\s*(\d{1,3})\s*-\s*(\d{1,3})\s*%?\s*,?\s*y\s*(\d{1,3})\s*-\s*(\d{1,3})\s*%?$/i.exec(raw);
  if (rect) {
    const [x0, x1, y0, y1] = rect.slice(1).map(Number) as [number, number, number, number];
    if (x0 >= x1 || y0 >= y1 || x1 > 100 || y1 > 100) {
      return err(
        new UserError(
          ErrorCode.FlagValue,
          `The rectangle "${raw}" is empty or leaves the image; use ranges like x 10-40% y 0-30%.`,
        ),
      );
    }
    return ok({
      source: 'rect',
      spec: `x ${x0}-${x1}% y ${y0}-${y1}%`,
      rects: [{ x0: x0 / 100, x1: x1 / 100, y0: y0 / 100, y1: y1 / 100 }],
    });
  }
  const name = normalise(raw);
  const rects = NAMED[name];
  if (!rects) return err(invalid(raw));
  return ok({ source: 'region', spec: name, rects });
}

/** Rasterises a region at a size: 1 inside any of its rectangles, 0 elsewhere. */
export function regionMask(region: Region, width: number, height: number): Float32Array {
  const mask = new Float32Array(width * height);
  for (const r of region.rects) {
    const x0 = Math.round(r.x0 * width);
    const x1 = Math.round(r.x1 * width);
    const y0 = Math.round(r.y0 * height);
    const y1 = Math.round(r.y1 * height);
    for (let y = y0; y < y1; y++) mask.fill(1, y * width + x0, y * width + x1);
  }
  return mask;
}
