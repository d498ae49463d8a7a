/** Discord REST request bodies as the loopback Discord reads them: JSON, or multipart with files. */

/** The JSON payload and the files of a request body. */
export function parseBody(
  type: string,
  raw: Buffer,
): { body: Record<string, unknown>; files: { name: string; data: Buffer }[] } {
  if (type.includes('application/json'))
    return {
      body: raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : {},
      files: [],
    };
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  if (!boundary) return { body: {}, files: [] };
  const marker = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const files: { name: string; data: Buffer }[] = [];
  let body: Record<string, unknown> = {};
  let start = raw.indexOf(marker);
  while (start !== -1) {
    const next = raw.indexOf(marker, start + marker.length);
    if (next === -1) break;
    const part = raw.subarray(start + marker.length + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    const content = part.subarray(split + 4);
    const name = /name="([^"]+)"/.exec(headers)?.[1] ?? '';
    const filename = /filename="([^"]+)"/.exec(headers)?.[1];
    if (name === 'payload_json') body = JSON.parse(content.toString('utf8')) as Record<string, unknown>;
    else if (filename) files.push({ name: filename, data: Buffer.from(content) });
    start = next;
  }
  return { body, files };
}
