/** Raw HTTP requests to a server on loopback, with any Host and headers, for the playground's tests. */
import { type IncomingHttpHeaders, request } from 'node:http';

/** What came back. */
export interface Answer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

/** One raw HTTP request, with any Host and headers. */
export function send(
  port: number,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string | number>;
    body?: string | Buffer;
    partial?: boolean;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    if (!options.partial) req.end();
  });
}
