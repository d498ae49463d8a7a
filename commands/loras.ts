/**
 * LoRAs on the command side: the person's and the channel's default (`settings lora name:0.8`), the
 * admins' allow-list (`settings admin loras allow a b` / `all`), LoRAs kept from the parent image when
 * it is varied, repainted, zoomed or upscaled creatively, the result line's "LoRA …", and the gate's
 * check that every LoRA is allowed and present (here, or on a live worker with the model).
 */
import { ErrorCode, UserError } from '../src/errors.js';
import { describeLoras, lorasOfExtra } from '../src/lora/facts.js';
import type { LoraUse } from '../src/lora/library.js';
import { parseLoraUse } from '../src/prompt/lora-syntax.js';
import { closest } from '../src/prompt/suggest.js';
import type { CommandDeps, JobRequest } from './deps.js';
import { adminSettings } from './settings-model.js';
import { type Reply, say } from './types.js';

/** Reads a default as stored ("tiny-style:0.8 detail:-0.5"); an error names the first bad entry. */
export function parseLoraList(text: string): LoraUse[] | UserError {
  const loras: LoraUse[] = [];
  for (const word of text.split(/[\s,]+/).filter(Boolean)) {
    const use = parseLoraUse(word);
    if (use instanceof UserError) return use;
    if (!loras.some((l) => l.name === use.name)) loras.push(use);
  }
  return loras.slice(0, 8);
}

/** The LoRAs of a default setting, ignoring one that no longer reads. */
export function defaultLoras(text: string | undefined): LoraUse[] | undefined {
  if (!text) return undefined;
  const loras = parseLoraList(text);
  return loras instanceof UserError || loras.length === 0 ? undefined : loras;
}

type WithLoras = { loras?: readonly LoraUse[]; parentId?: string; explanation: string; creative?: boolean };

/**
 * A job that starts from an image keeps that image's LoRAs unless it names its own; the result line
 * says which LoRAs run.
 */
export function withLoras(deps: CommandDeps, request: JobRequest): JobRequest {
  if (request.kind === 'edit' || request.kind === 'generate') return lineWithLoras(request);
  const params = request.params as WithLoras;
  if (params.loras !== undefined || !params.parentId) return lineWithLoras(request);
  if (request.kind === 'upscale' && !params.creative) return request;
  const parent = deps.store.getImage(params.parentId);
  const inherited = parent ? lorasOfExtra(parent.extra).map(({ name, weight }) => ({ name, weight })) : [];
  if (inherited.length === 0) return request;
  return lineWithLoras({ ...request, params: { ...request.params, loras: inherited } } as JobRequest);
}

function lineWithLoras(request: JobRequest): JobRequest {
  const params = request.params as WithLoras;
  if (!params.loras || params.loras.length === 0 || params.explanation.includes(' · LoRA ')) return request;
  const explanation = `${params.explanation} · ${describeLoras(params.loras)}`;
  return { ...request, params: { ...request.params, explanation } } as JobRequest;
}

/** The model whose LoRAs a job uses. */
function modelOf(deps: CommandDeps, request: JobRequest): string | undefined {
  if (request.kind === 'edit') return undefined;
  if (request.kind === 'upscale') return deps.store.getImage(request.params.parentId)?.model;
  return request.params.model;
}

/**
 * The gate's LoRA check: each LoRA on the admins' list (when there is one) and present for the model,
 * on this host or, with workers, on a live worker; an unknown name gets "Did you mean …?".
 */
export function checkLoras(deps: CommandDeps, request: JobRequest): UserError | undefined {
  const loras = (request.params as WithLoras).loras ?? [];
  if (loras.length === 0) return undefined;
  const model = modelOf(deps, request);
  if (!model) return undefined;
  const allowed = adminSettings(deps.store).loras;
  const available = deps.loraNames?.(model) ?? deps.models.loraNames(model);
  for (const { name } of loras) {
    if (allowed && !allowed.includes(name)) {
      return new UserError(
        ErrorCode.FlagValue,
        `The LoRA ${name} is not allowed here. Allowed: ${allowed.join(', ') || 'none'}.`,
      );
    }
    if (!available.includes(name)) {
      const guess = closest(name, available);
      return new UserError(
        ErrorCode.FlagValue,
        deps.loraNames
          ? `No image worker has the LoRA "${name}" for ${model} right now.${guess ? ` Did you mean ${guess}?` : ''}`
          : `There is no LoRA named "${name}" for ${model}.${guess ? ` Did you mean ${guess}?` : available.length > 0 ? ` Available: ${available.slice(0, 10).join(', ')}.` : ' None are installed.'}`,
      );
    }
  }
  return undefined;
}

/** `settings admin loras allow a b c` | `add a` | `remove a` | `all`. */
export function setLoraAllowList(deps: CommandDeps, words: readonly string[]): Reply {
  const [verb, ...names] = words;
  const current = adminSettings(deps.store).loras;
  let next: string[] | undefined;
  if (verb === 'all' || verb === 'off' || verb === 'reset') next = undefined;
  else if (verb === 'allow' || verb === 'add' || verb === 'remove') {
    const parsed = parseLoraList(names.join(' '));
    if (parsed instanceof UserError) return say(parsed.message);
    const given = parsed.map((l) => l.name);
    next =
      verb === 'allow'
        ? given
        : verb === 'add'
          ? [...new Set([...(current ?? []), ...given])]
          : (current ?? []).filter((name) => !given.includes(name));
  } else {
    return say('Use "settings admin loras allow <name> …", "add <name>", "remove <name>" or "all".');
  }
  deps.store.setSetting('global', 'admin', 'loras', next);
  return say(next ? `Allowed LoRAs: ${next.join(', ') || 'none'}.` : 'Every installed LoRA is allowed.');
}

/** The result's notes from the merge ("3 of 264 LoRA keys matched no weight of this model"). */
export function loraNotes(extra: unknown): string {
  const notes = (extra as { notes?: unknown } | null)?.notes;
  return Array.isArray(notes) && notes.length > 0
    ? `\n${notes.filter((n): n is string => typeof n === 'string').join('\n')}`
    : '';
}
