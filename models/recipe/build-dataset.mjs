/**
 * `npm run data:build` (in models/): assembles the captioned emoji dataset flowbot's model is trained on.
 *
 * Sources (all permissively licensed; see MODEL_CARD.md): emoji-datasource-google (Apache-2.0) and
 * emoji-datasource-twitter (CC-BY-4.0) 64 px PNGs; Iconify's SVG sets noto (Apache-2.0), twemoji
 * (CC-BY-4.0), fluent-emoji-flat and fluent-emoji (MIT), fxemoji (Apache-2.0) and emojione (CC-BY-4.0),
 * rendered with @resvg/resvg-js; @lobehub/fluent-emoji-3d (MIT) WebP. Apple and Facebook images are
 * never used (their licence forbids it). Each image is composited onto white at SIZE × SIZE.
 *
 * Captions come from emoji-datasource's emoji.json (names, categories) and emojilib's keywords.
 * Output: dataset/images.u8 (N × SIZE × SIZE × 3 bytes) and dataset/meta.json (DATA_SIZE and DATA_OUT
 * change the size and the folder: the super-resolution recipe also uses a 256 px build in dataset256/).
 * Emoji are split by a hash of their code point: 5% are held out of training for evaluation.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import sharp from 'sharp';

const require = createRequire(import.meta.url);
const SIZE = Number(process.env.DATA_SIZE ?? 64);
const OUT = path.resolve(import.meta.dirname, '..', process.env.DATA_OUT ?? 'dataset');
const SKIP_NOTO = new Set(['package', 'rainbow-flag']); // these two crash resvg

const emojis = require('emoji-datasource/emoji.json').filter((e) => e.category !== 'Component');
const emojilib = require('emojilib');
const subcategories = [...new Set(emojis.map((e) => e.subcategory))].sort();

const toChar = (unified) => String.fromCodePoint(...unified.split('-').map((h) => Number.parseInt(h, 16)));
const words = (text) =>
  text
    .toLowerCase()
    .replace(/[_-]+/g, ' ')
    .replace(/[^\p{L}\p{N}' &]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** Everything known about one emoji: its names and caption parts. */
function describe(emoji) {
  const char = toChar(emoji.unified);
  const plain = toChar(emoji.non_qualified ?? emoji.unified);
  const keywords = emojilib[char] ?? emojilib[plain] ?? [];
  const cldr = words(keywords[0] ?? emoji.short_name);
  const unicodeName = words(emoji.name ?? cldr);
  const extra = keywords
    .slice(1)
    .map(words)
    .filter((k) => k && k !== cldr);
  const slug = cldr.replace(/ /g, '-');
  return {
    char,
    cldr,
    unicodeName,
    extra,
    slug,
    shortNames: emoji.short_names.map((s) => s.replace(/_/g, '-')),
  };
}

/** Caption variants of one image; the trainer samples one per step. */
function captions(info, style) {
  const base = [info.cldr, `a ${info.cldr} emoji`, info.unicodeName];
  if (info.extra.length > 0) base.push(`${info.cldr}, ${info.extra.slice(0, 2).join(', ')}`);
  const unique = [...new Set(base)];
  return [...unique, ...unique.map((c) => `${c} in ${style} style`)];
}

function heldOut(unified) {
  return createHash('sha256').update(unified).digest()[0] % 20 === 0;
}

async function rasterise(input, kind) {
  let image;
  if (kind === 'svg') {
    const png = new Resvg(input, { fitTo: { mode: 'width', value: SIZE }, background: 'rgba(255,255,255,0)' })
      .render()
      .asPng();
    image = sharp(png);
  } else {
    image = sharp(input);
  }
  const { data } = await image
    .resize(SIZE, SIZE, {
      fit: 'contain',
      background: { r: 255, g: 255, b: 255, alpha: 0 },
      kernel: 'lanczos3',
    })
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return data;
}

function iconifySvg(set, name) {
  const icon = set.icons[name] ?? (set.aliases?.[name] ? set.icons[set.aliases[name].parent] : undefined);
  if (!icon) return undefined;
  const width = icon.width ?? set.width ?? 16;
  const height = icon.height ?? set.height ?? 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="${icon.left ?? 0} ${icon.top ?? 0} ${width} ${height}">${icon.body}</svg>`;
}

const sources = [
  {
    style: 'noto',
    label: 'emoji-datasource-google',
    license: 'Apache-2.0',
    find: (e) => pngFile('google', e),
  },
  {
    style: 'twemoji',
    label: 'emoji-datasource-twitter',
    license: 'CC-BY-4.0',
    find: (e) => pngFile('twitter', e),
  },
  {
    style: 'noto',
    label: '@iconify-json/noto',
    license: 'Apache-2.0',
    find: svgFinder('noto', (i) => [i.slug, ...i.shortNames], SKIP_NOTO),
  },
  {
    style: 'twemoji',
    label: '@iconify-json/twemoji',
    license: 'CC-BY-4.0',
    find: svgFinder('twemoji', (i) => [i.slug, ...i.shortNames]),
  },
  {
    style: 'flat',
    label: '@iconify-json/fluent-emoji-flat',
    license: 'MIT',
    find: svgFinder('fluent-emoji-flat', (i) => [i.slug, ...i.shortNames]),
  },
  {
    style: 'fluent',
    label: '@iconify-json/fluent-emoji',
    license: 'MIT',
    find: svgFinder('fluent-emoji', (i) => [i.slug, ...i.shortNames]),
  },
  {
    style: 'firefox',
    label: '@iconify-json/fxemoji',
    license: 'Apache-2.0',
    find: svgFinder('fxemoji', (i) => [
      i.slug.replace(/-/g, ''),
      ...i.shortNames.map((s) => s.replace(/-/g, '')),
    ]),
  },
  {
    style: 'emojione',
    label: '@iconify-json/emojione',
    license: 'CC-BY-4.0',
    find: svgFinder('emojione', (i) => [i.slug, ...i.shortNames]),
  },
  { style: '3d', label: '@lobehub/fluent-emoji-3d', license: 'MIT', find: (e) => webpFile(e) },
];

function pngFile(set, emoji) {
  if (!emoji[`has_img_${set}`]) return undefined;
  const file = require.resolve(`emoji-datasource-${set}/img/${set}/64/${emoji.image}`);
  return existsSync(file) ? { data: readFileSync(file), kind: 'raster' } : undefined;
}

function webpFile(emoji) {
  const dir = path.dirname(require.resolve('@lobehub/fluent-emoji-3d/package.json'));
  for (const name of [emoji.unified, emoji.non_qualified].filter(Boolean)) {
    const file = path.join(dir, 'assets', `${name.toLowerCase()}.webp`);
    if (existsSync(file)) return { data: readFileSync(file), kind: 'raster' };
  }
  return undefined;
}

function svgFinder(setName, candidates, skip = new Set()) {
  const set = require(`@iconify-json/${setName}/icons.json`);
  return (_emoji, info) => {
    for (const name of candidates(info)) {
      if (skip.has(name)) return undefined;
      const svg = iconifySvg(set, name);
      if (svg) return { data: svg, kind: 'svg' };
    }
    return undefined;
  };
}

mkdirSync(OUT, { recursive: true });
const items = [];
const chunks = [];
const counts = {};
for (const source of sources) {
  let found = 0;
  for (const emoji of emojis) {
    const info = describe(emoji);
    const file = source.find(emoji, info);
    if (!file) continue;
    let pixels;
    try {
      pixels = await rasterise(file.data, file.kind);
    } catch (error) {
      console.warn(`skipped ${source.label} ${info.cldr}: ${error.message}`);
      continue;
    }
    chunks.push(pixels);
    items.push({
      emoji: info.char,
      unified: emoji.unified,
      name: info.cldr,
      style: source.style,
      source: source.label,
      subcategory: subcategories.indexOf(emoji.subcategory),
      split: heldOut(emoji.unified) ? 'heldout' : 'train',
      captions: captions(info, source.style),
      keywords: info.extra,
    });
    found++;
  }
  counts[source.label] = found;
  console.log(`${source.label.padEnd(34)} ${String(found).padStart(5)} images (${source.license})`);
}
// Image by image: a 256 px build is larger than one write (2 GiB) can take.
const images = openSync(path.join(OUT, 'images.u8'), 'w');
for (const pixels of chunks) writeSync(images, pixels);
closeSync(images);
const styles = [...new Set(sources.map((s) => s.style))];
writeFileSync(
  path.join(OUT, 'meta.json'),
  JSON.stringify(
    {
      size: SIZE,
      count: items.length,
      styles,
      subcategories,
      sources: sources.map(({ style, label, license }) => ({ style, label, license, images: counts[label] })),
      items,
    },
    null,
    0,
  ),
);
const heldout = items.filter((i) => i.split === 'heldout').length;
console.log(
  `\n${items.length} images (${heldout} held out) in ${styles.length} styles, ${subcategories.length} subcategories → ${OUT}`,
);
