/**
 * PNG text chunks, so that every image flowbot writes carries its own recipe (prompt, seed, steps...).
 * sharp does not write arbitrary text chunks, so they are spliced in here before IEND.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** Adds UTF-8 text chunks (iTXt) to a PNG. */
export function addPngText(png: Buffer, entries: Record<string, string>): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('Not a PNG file');
  const iendOffset = png.length - 12;
  if (png.toString('latin1', iendOffset + 4, iendOffset + 8) !== 'IEND')
    throw new Error('PNG does not end with IEND');
  const chunks = Object.entries(entries).map(([key, value]) =>
    // iTXt: keyword, NUL, compression flag, method, language tag NUL, translated keyword NUL, text
    chunk(
      'iTXt',
      Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]),
    ),
  );
  return Buffer.concat([png.subarray(0, iendOffset), ...chunks, png.subarray(iendOffset)]);
}

/** Reads tEXt and iTXt chunks of a PNG. */
export function readPngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  if (!png.subarray(0, 8).equals(SIGNATURE)) return out;
  let offset = 8;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'tEXt') {
      const nul = data.indexOf(0);
      out[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    } else if (type === 'iTXt') {
      const nul = data.indexOf(0);
      const key = data.toString('latin1', 0, nul);
      let cursor = nul + 3;
      cursor = data.indexOf(0, cursor) + 1;
      cursor = data.indexOf(0, cursor) + 1;
      if (data[nul + 1] === 0) out[key] = data.toString('utf8', cursor);
    }
    offset += 12 + length;
  }
  return out;
}
