/** Links that chat platforms put on buttons. */

/**
 * Whether a platform takes `url` for a link button: absolute http(s) only. Discord throws "Invalid URL"
 * for a path and Slack refuses the blocks, either way losing the whole message.
 */
export function isLinkable(url: string): boolean {
  return URL.canParse(url) && /^https?:$/.test(new URL(url).protocol);
}
