import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createLogger, setLogSink } from '../src/log.js';
import { tempDir } from './helpers/tmp.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function cwd(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const dir = cwd();
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config.dataDir).toBe(path.join(dir, 'data'));
    expect(config.modelsDir).toBe(path.join(dir, 'models'));
    expect(config.executionProvider).toBe('cpu');
    expect(config.queueConcurrency).toBe(1);
    expect(config.maxJobsPerUser).toBe(3);
    expect(config.slackPort).toBe(3000);
    expect(config.discordToken).toBeUndefined();
  });

  it('treats an empty value as not set', () => {
    const config = loadConfig({ env: { QUEUE_CONCURRENCY: '', DISCORD_TOKEN: '  ' }, cwd: cwd() });
    expect(config.queueConcurrency).toBe(1);
    expect(config.discordToken).toBeUndefined();
  });

  it('names the setting, the expected form and the value received', () => {
    expect(() => loadConfig({ env: { QUEUE_CONCURRENCY: 'many' }, cwd: cwd() })).toThrow(
      'Invalid environment variable QUEUE_CONCURRENCY: expected an integer from 1 to 64, but received "many"',
    );
    expect(() => loadConfig({ env: { EXECUTION_PROVIDER: 'tpu' }, cwd: cwd() })).toThrow(
      /EXECUTION_PROVIDER: expected "cpu", "cuda" or "webgpu", but received "tpu"/,
    );
    expect(() => loadConfig({ env: { DISCORD_API_URL: 'not a url' }, cwd: cwd() })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { PORT: '70000' }, cwd: cwd() })).toThrow(/PORT: expected a TCP port/);
  });

  it('reads flowbot.config.json and lets the environment win', () => {
    const dir = cwd();
    writeFileSync(
      path.join(dir, 'flowbot.config.json'),
      JSON.stringify({ queueConcurrency: 2, MAX_JOBS_PER_USER: 5 }),
    );
    const config = loadConfig({ env: { QUEUE_CONCURRENCY: '4' }, cwd: dir });
    expect(config.queueConcurrency).toBe(4);
    expect(config.maxJobsPerUser).toBe(5);
  });

  it('rejects unknown keys and wrong values in the file', () => {
    const dir = cwd();
    writeFileSync(path.join(dir, 'flowbot.config.json'), JSON.stringify({ queueConcurency: 2 }));
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow(/Unknown setting "queueConcurency"/);
    writeFileSync(path.join(dir, 'flowbot.config.json'), JSON.stringify({ maxJobsPerUser: 0 }));
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow(
      /Invalid setting in flowbot.config.json MAX_JOBS_PER_USER/,
    );
    writeFileSync(path.join(dir, 'flowbot.config.json'), '{oops');
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow(/not valid JSON/);
  });

  it('never prints secrets', () => {
    const token = 'discord-secret-token-value';
    const config = loadConfig({
      env: { DISCORD_TOKEN: token, SLACK_SIGNING_SECRET: 'x', SLACK_BOT_TOKEN: 'xoxb-1234' },
      cwd: cwd(),
    });
    expect(JSON.stringify(describeConfig(config))).not.toContain(token);
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    createLogger('test').error(`login failed for ${token}`);
    setLogSink((line) => process.stderr.write(`${line}\n`));
    expect(lines[0]).toContain('[redacted]');
    expect(lines[0]).not.toContain(token);
  });

  it('requires the signing secret with a Slack bot token', () => {
    expect(() => loadConfig({ env: { SLACK_BOT_TOKEN: 'xoxb-1' }, cwd: cwd() })).toThrow(
      /SLACK_SIGNING_SECRET/,
    );
  });
});
