/**
 * Uploads in the playground (the inbound side): the page sends the picture as JSON (`name`, `text`,
 * and `data`, a base64 data URL) like every state-changing request, so the same JSON-and-origin check
 * guards it; the body's size is bounded by the guard's MAX_BODY before anything is parsed. Only the
 * shape is checked here: what the bytes are is image intake's business, in the command layer.
 */

/** A parsed upload request, or the reason it is not one. */
export type UploadRequest =
  | { readonly ok: true; readonly name: string; readonly text: string; readonly bytes: Uint8Array }
  | { readonly ok: false; readonly error: string };

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,([A-Za-z0-9+/=]+)$/;

/** Reads `{ name, text, data }` from a request body. */
export function parseUploadRequest(body: Record<string, unknown>): UploadRequest {
  const data = typeof body.data === 'string' ? body.data : '';
  const match = DATA_URL.exec(data);
  if (!match) return { ok: false, error: 'Attach an image file to upload.' };
  const bytes = Buffer.from(match[2]!, 'base64');
  if (bytes.length === 0) return { ok: false, error: 'That file is empty.' };
  const name = typeof body.name === 'string' && body.name.trim() ? body.name.trim().slice(0, 200) : 'upload';
  const text = typeof body.text === 'string' ? body.text.trim().slice(0, 2000) : '';
  return { ok: true, name, text, bytes };
}
