/**
 * Links people paste. flowbot reads only files attached through the platform itself (whose hosts and
 * sizes it knows); it never fetches an address someone typed, and says so instead of treating the link
 * as words of a prompt.
 */
import { type Reply, say } from './types.js';

const LINK = /\bhttps?:\/\/\S+/i;

/** The answer to words that hold a pasted link, or undefined when they hold none. */
export function pastedLinkAnswer(text: string): Reply | undefined {
  if (!LINK.test(text)) return undefined;
  return say(
    'I do not open links, so I did not fetch that one. To start from a picture, attach the image itself: the image option of /imagine, a file in your message, or an upload in the playground.',
  );
}
