/**
 * Per-user, per-channel and admin (global) settings, and how they combine into the parameters of a job:
 * model defaults ← channel defaults ← user defaults ← what the prompt says, capped by admin limits.
 */
import { z } from 'zod';
import type { Store } from '../src/store/store.js';
import { LIMIT_CEILINGS } from '../src/work/limits.js';

/** Defaults a person (or an admin, for a channel) can set. */
export const defaultsSchema = z
  .object({
    steps: z.number().int().min(1).max(LIMIT_CEILINGS.maxSteps),
    guidance: z.number().min(0).max(30),
    ar: z.string().regex(/^\d{1,2}:\d{1,2}$/),
    model: z.string().regex(/^[a-z0-9._-]{1,64}$/),
    style: z.string().regex(/^[a-z0-9._-]{1,64}$/),
    negative: z.string().max(500),
    n: z.number().int().min(1).max(LIMIT_CEILINGS.maxN),
    remix: z.boolean(),
    private: z.boolean(),
    /** LoRAs added to every prompt that names none: "tiny-style:0.8 detail:-0.5". */
    lora: z.string().max(400),
  })
  .partial();

/** A Discord role as settings name it: its id, or its name in lower case. */
const roleKey = z.string().min(1).max(100);

/** Who may use a restricted model: members of these roles, or admins only. */
export const modelAccessSchema = z.union([
  z.object({ roles: z.array(roleKey).min(1).max(50) }),
  z.object({ admins: z.literal(true) }),
]);

/** Who may use a restricted model. */
export type ModelAccess = z.infer<typeof modelAccessSchema>;

/** Admin-only settings, stored globally. */
export const adminSchema = z
  .object({
    channels: z.array(z.string()),
    blocklist: z.array(z.string()),
    jobsPerHour: z.number().int().min(1).max(10_000),
    // No setting goes beyond the ceilings, which Redis workers hold every job to.
    maxSteps: z.number().int().min(1).max(LIMIT_CEILINGS.maxSteps),
    maxN: z.number().int().min(1).max(LIMIT_CEILINGS.maxN),
    maxSide: z.number().int().min(64).max(LIMIT_CEILINGS.maxSide),
    maxUploadMB: z.number().min(0.1).max(50),
    /** Prompts one permutation or --repeat may make at once. */
    maxPermutations: z.number().int().min(1).max(40),
    /** Jobs a day per person (`settings admin quota 50/day`). */
    quotaPerDay: z.number().int().min(0).max(100_000),
    /** Jobs a day for members of a Discord role (its id, or its name), overriding quotaPerDay. */
    roleQuotas: z.record(roleKey, z.number().int().min(0).max(100_000)),
    /** Models only some people may use: the roles (Discord) or admins (any platform). */
    modelAccess: z.record(z.string().regex(/^[a-z0-9._-]{1,64}$/), modelAccessSchema),
    /** The only LoRAs people may use (`settings admin loras allow …`); all when absent. */
    loras: z.array(z.string().regex(/^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}$/)).max(500),
  })
  .partial();

export type Defaults = z.infer<typeof defaultsSchema>;
export type AdminSettings = z.infer<typeof adminSchema>;

function read<T extends z.ZodType>(schema: T, raw: Record<string, unknown>): z.infer<T> {
  const out: Record<string, unknown> = {};
  const shape = (schema as unknown as z.ZodObject<Record<string, z.ZodType>>).shape;
  for (const [key, value] of Object.entries(raw)) {
    const field = shape[key];
    if (field?.safeParse(value).success) out[key] = value;
  }
  return out as z.infer<T>;
}

/** A user's own defaults. */
export function userDefaults(store: Store, userId: string): Defaults {
  return read(defaultsSchema, store.settings('user', userId));
}

/** A channel's defaults (set by admins). */
export function channelDefaults(store: Store, channelId: string): Defaults {
  return read(defaultsSchema, store.settings('channel', channelId));
}

/** The admin settings. */
export function adminSettings(store: Store): AdminSettings {
  return read(adminSchema, store.settings('global', 'admin'));
}

/** Channel defaults overlaid by the user's own. */
export function effectiveDefaults(store: Store, userId: string, channelId: string): Defaults {
  return { ...channelDefaults(store, channelId), ...userDefaults(store, userId) };
}
