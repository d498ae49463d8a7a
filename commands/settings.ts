/**
 * `settings`: per-user defaults (steps, cfg, ar, model, style, negative, n, remix, private); per-channel
 * defaults and server-wide limits for admins.
 *
 *   settings                          show what applies to you here
 *   settings steps 12 | settings remix on | settings ar 16:9 | settings steps reset | settings reset
 *   settings channel steps 8          (admins) this channel's defaults
 *   settings admin blocklist add gore | settings admin channels add C123 | settings admin jobs-per-hour 20
 *   settings admin max-steps 30 | max-n 4 | max-side 1024 | max-upload-mb 10 | max-permutations 8
 *   settings admin quota 50/day [@role] | settings admin quota-reset @user   (commands/quota.ts)
 *   settings admin model sdxl roles @artists | admins | everyone             (commands/model-access.ts)
 *   settings admin nsfw allow|spoiler|block [threshold]   this channel's image moderation (commands/moderation.ts)
 */
import { UserError } from '../src/errors.js';
import { blocklistEntryProblem, unusableBlocklistEntries } from './blocklist.js';
import type { CommandDeps } from './context.js';
import { limitsFor } from './limits.js';
import { parseLoraList, setLoraAllowList } from './loras.js';
import { setModelAccess } from './model-access.js';
import { setNsfwPolicy } from './moderation.js';
import { resetQuota, setQuota } from './quota.js';
import {
  adminSchema,
  adminSettings,
  channelDefaults,
  type Defaults,
  defaultsSchema,
  userDefaults,
} from './settings-model.js';
import { type ChatContext, type Reply, say } from './types.js';

const KEY_ALIASES: Record<string, keyof Defaults> = {
  steps: 'steps',
  step: 'steps',
  cfg: 'guidance',
  guidance: 'guidance',
  ar: 'ar',
  aspect: 'ar',
  model: 'model',
  style: 'style',
  negative: 'negative',
  no: 'negative',
  n: 'n',
  count: 'n',
  remix: 'remix',
  private: 'private',
  lora: 'lora',
  loras: 'lora',
};
const ADMIN_KEYS: Record<
  string,
  'jobsPerHour' | 'maxSteps' | 'maxN' | 'maxSide' | 'maxUploadMB' | 'maxPermutations'
> = {
  'jobs-per-hour': 'jobsPerHour',
  'max-steps': 'maxSteps',
  'max-n': 'maxN',
  'max-side': 'maxSide',
  'max-upload-mb': 'maxUploadMB',
  'max-permutations': 'maxPermutations',
};
const RANGES: Record<string, string> = {
  steps: 'an integer 1–150',
  guidance: 'a number 0–30',
  ar: 'an aspect ratio W:H such as 16:9',
  model: 'a model name',
  style: 'a style name',
  negative: 'text (up to 500 characters)',
  n: 'an integer 1–4',
  remix: 'on or off',
  private: 'on or off',
  lora: 'LoRAs as name:weight, e.g. tiny-style:0.8',
  jobsPerHour: 'an integer 1–10000',
  maxSteps: 'an integer 1–150',
  maxN: 'an integer 1–4',
  maxSide: 'an integer 64–2048',
  maxUploadMB: 'a number 0.1–50',
  maxPermutations: 'an integer 1–40',
};

function coerce(key: string, raw: string): unknown {
  if (key === 'remix' || key === 'private')
    return /^(on|yes|true|1)$/i.test(raw) ? true : /^(off|no|false|0)$/i.test(raw) ? false : raw;
  const numeric = ['steps', 'guidance', 'n', 'jobsPerHour', 'maxSteps', 'maxN', 'maxSide', 'maxUploadMB'];
  if ([...numeric, 'maxPermutations'].includes(key)) return /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  return key === 'model' || key === 'style' ? raw.toLowerCase() : raw;
}

function describe(values: Record<string, unknown>): string {
  const entries = Object.entries(values);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${describeValue(v)}`).join(' · ');
}

function describeValue(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (Array.isArray(v)) return v.join(', ') || '(empty)';
  // Records such as role quotas and model permissions: "key: value, …".
  if (v && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([key, inner]) => `${key}: ${describeValue(inner)}`)
      .join(', ')}}`;
  return String(v);
}

/** Handles `settings`. */
export function settings(deps: CommandDeps, ctx: ChatContext, text: string): Reply {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    const lines = [
      `Your defaults: ${describe(userDefaults(deps.store, ctx.userId))}`,
      `This channel: ${describe(channelDefaults(deps.store, ctx.channelId))}`,
      `Server limits: ${describe(adminSettings(deps.store))}`,
      'Change one with e.g. "settings steps 12", "settings remix on", "settings ar 16:9"; "settings reset" clears yours.',
    ];
    return say(lines.join('\n'));
  }
  const [first, ...rest] = words as [string, ...string[]];
  if (first === 'reset' && rest.length === 0) {
    for (const key of Object.keys(userDefaults(deps.store, ctx.userId)))
      deps.store.setSetting('user', ctx.userId, key, undefined);
    return say('Your defaults are cleared.');
  }
  if (first === 'channel' || first === 'admin') {
    if (!ctx.isAdmin) return say('Only admins can change channel defaults and server limits.');
    return first === 'channel' ? setDefault(deps, 'channel', ctx.channelId, rest) : setAdmin(deps, ctx, rest);
  }
  return setDefault(deps, 'user', ctx.userId, words);
}

function setDefault(deps: CommandDeps, scope: 'user' | 'channel', scopeId: string, words: string[]): Reply {
  const [name, ...valueWords] = words;
  const key = name ? KEY_ALIASES[name.toLowerCase()] : undefined;
  if (!key)
    return say(`Unknown setting "${name ?? ''}". Settings: ${Object.keys(RANGES).slice(0, 9).join(', ')}.`);
  const raw = valueWords.join(' ');
  const who = scope === 'user' ? 'Your' : "This channel's";
  if (raw === '' || /^(reset|default|none|clear)$/i.test(raw)) {
    deps.store.setSetting(scope, scopeId, key, undefined);
    return say(`${who} ${key} default is cleared.`);
  }
  if (key === 'lora') {
    const loras = parseLoraList(raw);
    if (loras instanceof UserError) return say(loras.message);
  }
  const value = coerce(key, raw);
  const check = defaultsSchema.shape[key].safeParse(value);
  if (!check.success) return say(`Expected ${RANGES[key]} for ${key} but received "${raw}".`);
  const limits = limitsFor(deps);
  const max = key === 'steps' ? limits.maxSteps : key === 'n' ? limits.maxN : undefined;
  if (max !== undefined && (value as number) > max)
    return say(`Expected an integer 1–${max} for ${key} here but received ${raw}.`);
  if (key === 'model' && !deps.models.list().includes(value as string)) {
    return say(`There is no model "${raw}". Models: ${deps.models.list().join(', ') || 'none installed'}.`);
  }
  deps.store.setSetting(scope, scopeId, key, value);
  return say(
    `${who} default ${key} is now ${typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value)}.`,
  );
}

/** The blocklist, and why any entry saved before these checks existed is not in effect. */
function describeBlocklist(entries: readonly string[]): string {
  const lines = [`Blocklist: ${entries.join(', ') || 'empty'}.`];
  for (const [entry, reason] of unusableBlocklistEntries(entries))
    lines.push(`"${entry}" is not in effect: ${reason}. Remove it or rewrite it.`);
  return lines.join('\n');
}

function setAdmin(deps: CommandDeps, ctx: ChatContext, words: string[]): Reply {
  const [name, verb, ...restWords] = words;
  if (name === 'quota') return setQuota(deps, ctx, words.slice(1));
  if (name === 'quota-reset') return resetQuota(deps, words.slice(1));
  if (name === 'model') return setModelAccess(deps, ctx, words.slice(1));
  if (name === 'loras' || name === 'lora') return setLoraAllowList(deps, words.slice(1));
  if (name === 'nsfw') return setNsfwPolicy(deps, ctx, words.slice(1));
  const current = adminSettings(deps.store);
  if (name === 'channels' || name === 'blocklist') {
    const list = [...(current[name] ?? [])];
    const item = restWords.join(' ');
    if (verb === 'add' && item) list.push(item);
    else if (verb === 'remove' && item) list.splice(list.indexOf(item), list.includes(item) ? 1 : 0);
    else if (verb === 'clear') list.length = 0;
    else
      return say(
        `Use "settings admin ${name} add <${name === 'channels' ? 'channel id' : 'word or /regex/'}>", "remove …" or "clear".`,
      );
    const problem =
      name === 'blocklist' && verb === 'add'
        ? blocklistEntryProblem(item, current.blocklist ?? [])
        : undefined;
    if (problem) return say(problem);
    const saved = [...new Set(list)];
    deps.store.setSetting('global', 'admin', name, saved);
    if (name === 'blocklist') return say(describeBlocklist(saved));
    return say(`Enabled channels: ${saved.join(', ') || 'all channels'}.`);
  }
  const key = name ? ADMIN_KEYS[name] : undefined;
  if (!key)
    return say(
      `Unknown admin setting "${name ?? ''}". Admin settings: channels, blocklist, ${Object.keys(ADMIN_KEYS).join(', ')}, quota, quota-reset, model, loras, nsfw.`,
    );
  if (!verb || /^(off|reset|none)$/i.test(verb)) {
    deps.store.setSetting('global', 'admin', key, undefined);
    return say(`${name} is cleared.`);
  }
  const value = coerce(key, verb);
  if (!adminSchema.shape[key].safeParse(value).success)
    return say(`Expected ${RANGES[key]} for ${name} but received "${verb}".`);
  deps.store.setSetting('global', 'admin', key, value);
  return say(`${name} is now ${value}.`);
}
