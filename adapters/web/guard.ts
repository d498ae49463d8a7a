/**
 * Who may drive the playground. Only its own page: requests must name an allowed `Host` (the loopback
 * names with the port, PUBLIC_URL's host, or the bound IP address — never an attacker's name, which
 * closes DNS rebinding); state-changing requests must be JSON from a same-origin page or carry the
 * token; with WEB_TOKEN set the token (or the login cookie derived from it) is required for everything
 * else; no other site may frame a page. Bodies are bounded and answered 413 or 400 with a message.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

/** Largest request body (a drawn mask as a data URL fits easily). */
export const MAX_BODY = 12 * 1024 * 1024;

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The Host header values the server answers: loopback names, PUBLIC_URL's host, a bound IP address,
 * each with the port, and also without it on the scheme's default port (80, or 443 behind an https
 * PUBLIC_URL), because browsers leave a default port out of the Host header.
 */
export function allowedHosts(bindHost: string, port: number, publicUrl: string | undefined): Set<string> {
  const names = ['127.0.0.1', 'localhost', '[::1]'];
  // An IP literal cannot be rebound by DNS; the unspecified addresses name no host at all.
  if (isIP(bindHost) && bindHost !== '0.0.0.0' && bindHost !== '::') {
    names.push(isIP(bindHost) === 6 ? `[${bindHost}]` : bindHost);
  }
  const withPort = names.map((name) => `${name}:${port}`);
  const hosts = new Set(isDefaultPort(port, publicUrl) ? [...withPort, ...names] : withPort);
  if (publicUrl) hosts.add(new URL(publicUrl).host.toLowerCase());
  return hosts;
}

/** True when browsers omit this port from the Host header: 80 for http, 443 when served as https. */
function isDefaultPort(port: number, publicUrl: string | undefined): boolean {
  return port === 80 || (port === 443 && publicUrl?.startsWith('https:') === true);
}

/** A request refused: the status and the message for the person (or script) who sent it. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Compares a presented token with the configured one in constant time. */
export function tokenMatches(given: string | undefined, token: string | undefined): boolean {
  if (!token || !given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The login cookie (`flowbot_session`) holds {@link sessionValue}, never the token itself. */
const SESSION_COOKIE = 'flowbot_session';
const SESSION_COOKIE_VALUE = /(?:^|;\s*)flowbot_session=([^;]+)/;

/**
 * The login cookie's value: an HMAC of a fixed label keyed by the token. A leaked cookie (a log, a
 * backup of the browser profile) does not give away WEB_TOKEN, which also works as a Bearer token, and
 * changing WEB_TOKEN ends every session. Derived, not random per start, so logins survive restarts.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('flowbot playground session v1').digest('base64url');
}

/** The Set-Cookie header that logs a browser in: `Secure` when the public address is https. */
export function loginCookie(token: string, secure: boolean): string {
  const flags = ['HttpOnly', 'SameSite=Strict', 'Path=/', ...(secure ? ['Secure'] : [])];
  return [`${SESSION_COOKIE}=${sessionValue(token)}`, ...flags].join('; ');
}

/** How a request proves it knows the token, if it does: the header, the `?token=` login, or the cookie. */
export function tokenProof(
  req: IncomingMessage,
  url: URL,
  token: string,
): 'bearer' | 'query' | 'cookie' | undefined {
  if (tokenMatches(/^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1], token)) return 'bearer';
  if (tokenMatches(url.searchParams.get('token') ?? undefined, token)) return 'query';
  const cookie = SESSION_COOKIE_VALUE.exec(req.headers.cookie ?? '')?.[1];
  return tokenMatches(cookie, sessionValue(token)) ? 'cookie' : undefined;
}

/**
 * Where the `?token=` login sends the browser once the cookie is set: the same address without the
 * token, so it leaves the address bar, the history and later Referer headers. Leading slashes collapse
 * to one, so the redirect never leaves this server ("//evil.example" would).
 */
export function withoutToken(url: URL): string {
  const rest = new URLSearchParams(url.searchParams);
  rest.delete('token');
  const query = rest.toString();
  return `/${url.pathname.replace(/^\/+/, '')}${query ? `?${query}` : ''}`;
}

/** No other site may frame the playground or the mask editor (clickjacking): both old and new headers. */
export function forbidFraming(res: ServerResponse): void {
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('content-security-policy', "frame-ancestors 'none'");
}

/** Refuses a request whose Host header is not one of ours (DNS rebinding, stray proxies). */
export function checkHost(req: IncomingMessage, hosts: ReadonlySet<string>): void {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hosts.has(host)) {
    throw new Refusal(
      421,
      `flowbot: this server does not answer for "${host}". Use http://127.0.0.1 or set PUBLIC_URL to the address people use.`,
    );
  }
}

/**
 * A state-changing request must be JSON (a cross-site form or text/plain POST is not) and come from
 * this server's own page (its Origin is the Host it asked), unless it carries the token.
 */
export function checkStateChange(req: IncomingMessage, token: string | undefined): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new Refusal(415, 'Send requests as application/json.');
  }
  if (tokenMatches(/^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1], token)) return;
  const origin = req.headers.origin;
  let originHost: string | undefined;
  try {
    originHost = origin ? new URL(origin).host.toLowerCase() : undefined;
  } catch {
    originHost = undefined;
  }
  if (!originHost || originHost !== (req.headers.host ?? '').toLowerCase()) {
    throw new Refusal(403, 'This request did not come from the playground page.');
  }
}

/** Reads a JSON object body of at most MAX_BODY bytes: 413 when larger, 400 when not JSON. */
export function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown>> {
  const tooLarge = () =>
    new Refusal(413, `That upload is too large (the limit is ${Math.round(MAX_BODY / 1024 / 1024)} MB).`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) {
    // Answer now, then read and discard the rest, so the client sees the 413 instead of a reset.
    res.setHeader('connection', 'close');
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        over = true;
        chunks.length = 0;
        res.setHeader('connection', 'close');
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) return;
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          reject(new Refusal(400, 'That request was not a JSON object.'));
          return;
        }
        resolve(parsed as Record<string, unknown>);
      } catch {
        reject(new Refusal(400, 'That request was not valid JSON.'));
      }
    });
    req.on('error', reject);
  });
}
