/**
 * The one place where flowbot's configuration is read and validated.
 *
 * Sources, later ones winning: built-in defaults, an optional JSON file (`flowbot.config.json` in the
 * working directory, or the path in `FLOWBOT_CONFIG`), then environment variables. An empty value counts
 * as not set. A wrong value stops start-up with a {@link ConfigError} naming the setting, the expected
 * form and what was received.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { registerSecret } from './log.js';

/** The validated configuration. */
export interface Config {
  readonly dataDir: string;
  readonly modelsDir: string;
  readonly model: string;
  readonly upscaler: string;
  /** The sentence encoder's folder (absolute), that replies are understood with. */
  readonly encoder: string;
  /** The image-moderation classifier's folder (absolute); images are posted unchecked when it is missing. */
  readonly moderationModel: string;
  readonly executionProvider: 'cpu' | 'cuda' | 'webgpu';
  readonly vaeTile: number;
  readonly releaseTextEncoders: boolean;
  readonly memoryBudgetMB: number;
  readonly loraMaxMB: number;
  readonly loraCacheMB: number;
  readonly maxOutputSide: number;
  readonly queueConcurrency: number;
  readonly redisUrl: string | undefined;
  readonly localWorker: boolean;
  readonly workerConcurrency: number;
  readonly workerLockSeconds: number;
  readonly onnxThreads: number;
  readonly deviceId: number;
  readonly maxJobsPerUser: number;
  readonly jobTimeoutSeconds: number;
  readonly shutdownGraceSeconds: number;
  readonly port: number;
  readonly host: string;
  readonly publicUrl: string | undefined;
  readonly webToken: string | undefined;
  readonly linkSecret: string | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly discordToken: string | undefined;
  readonly discordApiUrl: string | undefined;
  readonly discordGuildId: string | undefined;
  readonly slackBotToken: string | undefined;
  readonly slackSigningSecret: string | undefined;
  readonly slackAppToken: string | undefined;
  readonly slackPort: number;
  readonly slackApiUrl: string | undefined;
  readonly slackAdminUsers: readonly string[];
  readonly discordAdminRole: string | undefined;
}

interface SettingSpec {
  /** Environment variable name (also accepted as a key in the JSON file). */
  readonly env: string;
  /** Key in {@link Config} and camelCase key in the JSON file. */
  readonly key: keyof Config;
  /** Human description of the expected form, used in error messages and the README table. */
  readonly expected: string;
  readonly schema: z.ZodType;
  readonly defaultValue?: unknown;
  readonly secret?: boolean;
  readonly description: string;
}

const integer = (min: number, max: number) =>
  z.coerce.number().int().min(min).max(max) as unknown as z.ZodType<number>;
const url = z
  .string()
  .url()
  .transform((value) => value.replace(/\/+$/, ''));
const text = z.string().min(1);
const boolean = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
  .transform((value) => value === true || value === 'true' || value === '1' || value === 'yes');

/** The most jobs one worker may run at once (WORKER_CONCURRENCY); the front-end trusts no heartbeat above it. */
export const MAX_WORKER_CONCURRENCY = 64;

/** Every setting flowbot reads, in the order the README documents them. */
export const SETTINGS: readonly SettingSpec[] = [
  {
    env: 'DATA_DIR',
    key: 'dataDir',
    expected: 'a directory path',
    schema: text,
    defaultValue: './data',
    description: 'Runtime home: database, images, masks.',
  },
  {
    env: 'MODELS_DIR',
    key: 'modelsDir',
    expected: 'a directory path',
    schema: text,
    defaultValue: './models',
    description: 'Where model folders live.',
  },
  {
    env: 'MODEL',
    key: 'model',
    expected: 'a model folder name (letters, digits, . _ -)',
    schema: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    defaultValue: 'flowbot-emoji',
    description: 'Default model, a folder under MODELS_DIR.',
  },
  {
    env: 'UPSCALER',
    key: 'upscaler',
    expected: 'an upscaler folder name (letters, digits, . _ -)',
    schema: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    defaultValue: 'emoji-sr',
    description: 'Super-resolution model, a folder under MODELS_DIR; Lanczos when it is missing.',
  },
  {
    env: 'ENCODER',
    key: 'encoder',
    expected: 'a sentence-encoder folder name under MODELS_DIR, or a path to one',
    schema: text,
    defaultValue: 'minilm-l6',
    description:
      'Sentence encoder that reads replies by meaning, a folder under MODELS_DIR (or a path); the rule table alone when it is missing.',
  },
  {
    env: 'MODERATION_MODEL',
    key: 'moderationModel',
    expected: 'an image-classifier folder name under MODELS_DIR, or a path to one',
    schema: text,
    defaultValue: 'nsfw-mobilenet-v2',
    description:
      'NSFW classifier every generated image and every upload passes before it is posted or used, a folder under MODELS_DIR (or a path); images are posted unchecked, with a warning, when it is missing.',
  },
  {
    env: 'EXECUTION_PROVIDER',
    key: 'executionProvider',
    expected: '"cpu", "cuda" or "webgpu"',
    schema: z.enum(['cpu', 'cuda', 'webgpu']),
    defaultValue: 'cpu',
    description: 'ONNX Runtime execution provider; cuda and webgpu fall back to cpu when unavailable.',
  },
  {
    env: 'VAE_TILE',
    key: 'vaeTile',
    expected: 'an integer from 0 to 4096 (pixels; 0 = never tile)',
    schema: integer(0, 4096),
    defaultValue: 512,
    description: 'Images larger than this are VAE-encoded and decoded in overlapping tiles of this size.',
  },
  {
    env: 'RELEASE_TEXT_ENCODERS',
    key: 'releaseTextEncoders',
    expected: '"true" or "false" (also 1/0, yes/no)',
    schema: boolean,
    defaultValue: false,
    description: 'Unload text encoders after each prompt (less memory for T5-XXL, slower prompts).',
  },
  {
    env: 'MEMORY_BUDGET_MB',
    key: 'memoryBudgetMB',
    expected: 'an integer from 256 to 4194304 (megabytes)',
    schema: integer(256, 4_194_304),
    defaultValue: Math.max(256, Math.floor(os.totalmem() / 2 / 1e6)),
    description: "Peak memory one job may plan for; half the host's RAM by default.",
  },
  {
    env: 'LORA_MAX_MB',
    key: 'loraMaxMB',
    expected: 'an integer from 1 to 16384 (megabytes)',
    schema: integer(1, 16_384),
    defaultValue: 1024,
    description: 'Largest LoRA file flowbot reads; larger ones are refused with a message.',
  },
  {
    env: 'LORA_CACHE_MB',
    key: 'loraCacheMB',
    expected: 'an integer from 0 to 4194304 (megabytes)',
    schema: integer(0, 4_194_304),
    defaultValue: Math.max(256, Math.floor(os.totalmem() / 4 / 1e6)),
    description:
      "Weights of the LoRA-merged sessions kept for reuse (one per model and set of LoRAs), least recently used out first; a quarter of the host's RAM by default.",
  },
  {
    env: 'MAX_OUTPUT_SIDE',
    key: 'maxOutputSide',
    expected: 'an integer from 256 to 16384 (pixels)',
    schema: integer(256, 16_384),
    defaultValue: 4096,
    description: 'Largest side an upscale may produce.',
  },
  {
    env: 'QUEUE_CONCURRENCY',
    key: 'queueConcurrency',
    expected: 'an integer from 1 to 64',
    schema: integer(1, 64),
    defaultValue: 1,
    description: 'Jobs that run at the same time.',
  },
  {
    env: 'REDIS_URL',
    key: 'redisUrl',
    expected: 'a redis:// or rediss:// URL',
    schema: z.string().regex(/^rediss?:\/\/\S+$/),
    secret: true,
    description:
      'Scale out: image jobs go through BullMQ on this Redis to `npm run worker` processes (see Scaling out).',
  },
  {
    env: 'LOCAL_WORKER',
    key: 'localWorker',
    expected: '"true" or "false" (also 1/0, yes/no)',
    schema: boolean,
    defaultValue: true,
    description:
      'With REDIS_URL: `npm start` also runs one worker in-process. 0: the front-end does no image work.',
  },
  {
    env: 'WORKER_CONCURRENCY',
    key: 'workerConcurrency',
    expected: `an integer from 1 to ${MAX_WORKER_CONCURRENCY}`,
    schema: integer(1, MAX_WORKER_CONCURRENCY),
    defaultValue: 1,
    description: 'Jobs one worker runs at the same time.',
  },
  {
    env: 'WORKER_LOCK_SECONDS',
    key: 'workerLockSeconds',
    expected: 'an integer from 5 to 600 (seconds)',
    schema: integer(5, 600),
    defaultValue: 15,
    description:
      "A worker renews its job's lock every half of this; a killed worker's job runs again elsewhere after it.",
  },
  {
    env: 'ONNX_THREADS',
    key: 'onnxThreads',
    expected: 'an integer from 0 to 256 (0 = every core)',
    schema: integer(0, 256),
    defaultValue: 0,
    description: 'ONNX Runtime threads per process (set 1 to run one worker per core).',
  },
  {
    env: 'DEVICE_ID',
    key: 'deviceId',
    expected: 'an integer from 0 to 63',
    schema: integer(0, 63),
    defaultValue: 0,
    description: 'Which GPU a CUDA process uses (one worker per GPU).',
  },
  {
    env: 'MAX_JOBS_PER_USER',
    key: 'maxJobsPerUser',
    expected: 'an integer from 1 to 1000',
    schema: integer(1, 1000),
    defaultValue: 3,
    description: 'Queued plus running jobs one person may have.',
  },
  {
    env: 'JOB_TIMEOUT_SECONDS',
    key: 'jobTimeoutSeconds',
    expected: 'an integer from 1 to 86400',
    schema: integer(1, 86_400),
    defaultValue: 600,
    description: 'A job running longer than this fails.',
  },
  {
    env: 'SHUTDOWN_GRACE_SECONDS',
    key: 'shutdownGraceSeconds',
    expected: 'an integer from 0 to 3600',
    schema: integer(0, 3600),
    defaultValue: 30,
    description: 'On SIGINT/SIGTERM, how long running jobs may finish; the rest resume at next start.',
  },
  {
    env: 'PORT',
    key: 'port',
    expected: 'a TCP port from 1 to 65535',
    schema: integer(1, 65_535),
    defaultValue: 8787,
    description: 'Port of the local web playground.',
  },
  {
    env: 'HOST',
    key: 'host',
    expected: 'a host name or IP address',
    schema: text,
    defaultValue: '127.0.0.1',
    description: "Address the playground and Slack's HTTP receiver bind to.",
  },
  {
    env: 'PUBLIC_URL',
    key: 'publicUrl',
    expected: 'an absolute http(s) URL',
    schema: url,
    description: 'Public address of the web server, for mask-editor links from Discord and Slack.',
  },
  {
    env: 'WEB_TOKEN',
    key: 'webToken',
    expected: 'a token of at least 16 characters',
    schema: z.string().min(16),
    secret: true,
    description: 'Login token for the playground; required when HOST is not a loopback address.',
  },
  {
    env: 'LINK_SECRET',
    key: 'linkSecret',
    expected: 'a secret of at least 16 characters',
    schema: z.string().min(16),
    secret: true,
    description: 'Signs mask-editor links; random per start when unset (links then end at restart).',
  },
  {
    env: 'LOG_LEVEL',
    key: 'logLevel',
    expected: 'one of debug, info, warn, error',
    schema: z.enum(['debug', 'info', 'warn', 'error']),
    defaultValue: 'info',
    description: 'Lowest log level printed.',
  },
  {
    env: 'DISCORD_TOKEN',
    key: 'discordToken',
    expected: 'a Discord bot token',
    schema: text,
    secret: true,
    description: 'Enables the Discord adapter.',
  },
  {
    env: 'DISCORD_API_URL',
    key: 'discordApiUrl',
    expected: 'an absolute http(s) URL',
    schema: url,
    description: 'Overrides the Discord REST base URL (proxies, tests).',
  },
  {
    env: 'DISCORD_GUILD_ID',
    key: 'discordGuildId',
    expected: 'a Discord guild id (digits)',
    schema: z.string().regex(/^\d{5,25}$/),
    description: 'Register slash commands in this guild only (instant; for development).',
  },
  {
    env: 'SLACK_BOT_TOKEN',
    key: 'slackBotToken',
    expected: 'a Slack bot token (xoxb-…)',
    schema: text,
    secret: true,
    description: 'Enables the Slack adapter (with SLACK_SIGNING_SECRET).',
  },
  {
    env: 'SLACK_SIGNING_SECRET',
    key: 'slackSigningSecret',
    expected: 'the Slack signing secret',
    schema: text,
    secret: true,
    description: 'Verifies Slack request signatures.',
  },
  {
    env: 'SLACK_APP_TOKEN',
    key: 'slackAppToken',
    expected: 'a Slack app-level token (xapp-…)',
    schema: text,
    secret: true,
    description: 'Switches Slack to Socket Mode.',
  },
  {
    env: 'SLACK_PORT',
    key: 'slackPort',
    expected: 'a TCP port from 1 to 65535',
    schema: integer(1, 65_535),
    defaultValue: 3000,
    description: 'Port of the Slack HTTP receiver (bound on HOST).',
  },
  {
    env: 'SLACK_API_URL',
    key: 'slackApiUrl',
    expected: 'an absolute http(s) URL',
    schema: url,
    description: 'Overrides the Slack Web API base URL (proxies, tests).',
  },
  {
    env: 'SLACK_ADMIN_USERS',
    key: 'slackAdminUsers',
    expected: 'Slack user ids separated by commas (U123,U456)',
    schema: z
      .string()
      .regex(/^[A-Z0-9]+(\s*,\s*[A-Z0-9]+)*$/)
      .transform((value) => value.split(/\s*,\s*/)),
    defaultValue: [],
    description: 'flowbot admins on Slack besides the workspace admins and owners.',
  },
  {
    env: 'DISCORD_ADMIN_ROLE',
    key: 'discordAdminRole',
    expected: 'a role name or id',
    schema: z.string().min(1).max(100),
    description: 'flowbot admins on Discord besides members with Manage Server.',
  },
];

function describeReceived(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return JSON.stringify(value) ?? String(value);
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function readConfigFile(filePath: string): Record<string, unknown> {
  let raw: string;
  try {
    raw = readFileSync(filePath, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read configuration file ${filePath}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`Configuration file ${filePath} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`Configuration file ${filePath} must hold a JSON object of settings`);
  }
  const known = new Set(SETTINGS.flatMap((s) => [s.env, s.key]));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(`Unknown setting "${key}" in ${filePath}`);
  }
  return parsed as Record<string, unknown>;
}

/** Options for {@link loadConfig}; both default to the real process. */
export interface LoadConfigOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * Reads and validates the configuration. Throws {@link ConfigError} on the first wrong value.
 * Secret values are registered with the logger so that they are masked if they ever reach a log line.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicitFile = env.FLOWBOT_CONFIG?.trim();
  const filePath = path.resolve(cwd, explicitFile || 'flowbot.config.json');
  const file = explicitFile || existsSync(filePath) ? readConfigFile(filePath) : {};

  const values: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const fromEnv = env[spec.env];
    const fromFile = file[spec.key] ?? file[spec.env];
    const [raw, source] = !isUnset(fromEnv)
      ? [fromEnv, 'environment variable']
      : !isUnset(fromFile)
        ? [fromFile, `setting in ${path.basename(filePath)}`]
        : [undefined, 'default'];
    if (raw === undefined) {
      values[spec.key] = spec.defaultValue;
      continue;
    }
    const parsed = spec.schema.safeParse(typeof raw === 'string' ? raw.trim() : raw);
    if (!parsed.success) {
      throw new ConfigError(
        `Invalid ${source} ${spec.env}: expected ${spec.expected}, but received ${spec.secret ? 'a value that does not fit' : describeReceived(raw)}`,
      );
    }
    values[spec.key] = parsed.data;
    if (spec.secret && typeof parsed.data === 'string') registerSecret(parsed.data);
  }
  const config = values as unknown as Config;
  if (config.slackBotToken && !config.slackSigningSecret && !config.slackAppToken) {
    throw new ConfigError(
      'Invalid environment variable SLACK_SIGNING_SECRET: expected the Slack signing secret when SLACK_BOT_TOKEN is set (or SLACK_APP_TOKEN for Socket Mode), but received nothing',
    );
  }
  return {
    ...config,
    dataDir: path.resolve(cwd, config.dataDir),
    modelsDir: path.resolve(cwd, config.modelsDir),
    encoder: path.resolve(cwd, config.modelsDir, config.encoder),
    moderationModel: path.resolve(cwd, config.modelsDir, config.moderationModel),
  };
}

/** The configuration as it may be logged: secrets replaced by "set" or "unset". */
export function describeConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const value = config[spec.key];
    out[spec.env] = spec.secret ? (value ? 'set' : 'unset') : value;
  }
  return out;
}
