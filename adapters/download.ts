/**
 * Downloading a file a person attached, for the command layer to call once its cheap checks pass
 * (see `FetchAttachment`). It reads no more than the command layer allows, whatever size the platform
 * stated, and never throws: a failed download is undefined.
 */
import type { FetchAttachment } from '../commands/types.js';

/** Reads `url`, stopping one byte past `maxBytes` (so that a larger file shows as larger). */
async function fetchAtMost(url: string, maxBytes: number): Promise<Uint8Array | undefined> {
  const response = await fetch(url);
  if (!response.ok || !response.body) return undefined;
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk);
    received += chunk.byteLength;
    if (received > maxBytes) break; // leaving the loop cancels the rest of the body
  }
  return Buffer.concat(chunks).subarray(0, maxBytes + 1);
}

/** A download of `url` for an attachment's `fetch`. */
export function downloader(url: string): FetchAttachment {
  return (maxBytes) => fetchAtMost(url, maxBytes).catch(() => undefined);
}
