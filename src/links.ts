/**
 * Signed mask-editor links: tied to one image and one user, valid for 15 minutes. The signature is an
 * HMAC-SHA256 over image, user, platform, channel and expiry, so none of them can be changed.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { err, ok, type Result } from './result.js';

/** What a link grants. */
export interface EditorGrant {
  readonly imageId: string;
  readonly userId: string;
  readonly platform: string;
  readonly channelId: string;
  readonly expires: number;
}

/** How long a link stays valid. */
export const LINK_LIFETIME_MS = 15 * 60 * 1000;

/** Signs and checks editor links. */
export class LinkSigner {
  private readonly key: Buffer;
  private readonly now: () => number;

  /** With no secret, a random one is made: links then stop working at restart, which their lifetime allows. */
  constructor(secret?: string, now: () => number = Date.now) {
    this.key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
    this.now = now;
  }

  private sign(grant: EditorGrant): string {
    const payload = [grant.imageId, grant.userId, grant.platform, grant.channelId, grant.expires].join('\n');
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  /** A signature of any text (for unguessable URLs such as a job's preview). */
  tag(text: string): string {
    return createHmac('sha256', this.key).update(`tag\n${text}`).digest('base64url').slice(0, 22);
  }

  /** True when `tag` is this signer's tag of `text`. */
  checkTag(text: string, tag: string): boolean {
    const expected = Buffer.from(this.tag(text));
    const given = Buffer.from(tag);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Query string of a new link. */
  query(imageId: string, userId: string, platform: string, channelId: string): string {
    const grant = { imageId, userId, platform, channelId, expires: this.now() + LINK_LIFETIME_MS };
    const params = new URLSearchParams({
      image: imageId,
      user: userId,
      platform,
      channel: channelId,
      exp: String(grant.expires),
      sig: this.sign(grant),
    });
    return params.toString();
  }

  /** Checks a link's parameters; the error says why it cannot be used. */
  verify(params: URLSearchParams): Result<EditorGrant, 'expired' | 'invalid'> {
    const grant = {
      imageId: params.get('image') ?? '',
      userId: params.get('user') ?? '',
      platform: params.get('platform') ?? '',
      channelId: params.get('channel') ?? '',
      expires: Number(params.get('exp')),
    };
    const signature = Buffer.from(params.get('sig') ?? '', 'base64url');
    const expected = Buffer.from(this.sign(grant), 'base64url');
    if (
      !grant.imageId ||
      !Number.isFinite(grant.expires) ||
      signature.length !== expected.length ||
      !timingSafeEqual(signature, expected)
    ) {
      return err('invalid');
    }
    if (grant.expires < this.now()) return err('expired');
    return ok(grant);
  }
}
