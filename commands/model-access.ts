/**
 * Models only some people may use: `settings admin model sdxl roles @artists` (Discord) or
 * `settings admin model sdxl admins` (any platform; on Slack, the only restriction there is). Admins
 * may always use every model. The gate in `limits.ts` refuses a job on a model the person may not use.
 */
import { ErrorCode, UserError } from '../src/errors.js';
import type { CommandDeps } from './deps.js';
import { hasRole, roleKeyOf, showRole } from './mentions.js';
import { adminSettings, type ModelAccess } from './settings-model.js';
import { type ChatContext, type Reply, say } from './types.js';

function describeAccess(access: ModelAccess): string {
  return 'admins' in access ? 'admins only' : `members of ${access.roles.map(showRole).join(', ')}`;
}

/** True when this person may use `model` here: it is open, they are an admin, or they have a role. */
export function mayUseModel(deps: CommandDeps, ctx: ChatContext, model: string): boolean {
  const access = adminSettings(deps.store).modelAccess?.[model];
  return !access || ctx.isAdmin || ('roles' in access && hasRole(ctx, access.roles));
}

/** Why this person may not use `model` here, or undefined when they may. */
export function modelAccessRefusal(
  deps: CommandDeps,
  ctx: ChatContext,
  model: string,
): UserError | undefined {
  const access = adminSettings(deps.store).modelAccess?.[model];
  if (!access || mayUseModel(deps, ctx, model)) return undefined;
  const others = deps.models.list().filter((name) => name !== model && mayUseModel(deps, ctx, name));
  const instead = others.length > 0 ? ` Models you can use: ${others.join(', ')}.` : '';
  const opens =
    'admins' in access ? 'Only admins can use it.' : `It opens to you with one of those roles; ask an admin.`;
  return new UserError(
    ErrorCode.ModelNotAllowed,
    `The model ${model} is limited to ${describeAccess(access)} here. ${opens}${instead}`,
    { limit: 'model permission', model },
  );
}

/** `settings admin model <name> roles @a @b | admins | everyone`, and `settings admin model` to list. */
export function setModelAccess(deps: CommandDeps, ctx: ChatContext, words: readonly string[]): Reply {
  const [name, mode, ...roleWords] = words;
  const current = { ...(adminSettings(deps.store).modelAccess ?? {}) };
  if (!name) {
    const lines = Object.entries(current).map(([model, access]) => `${model}: ${describeAccess(access)}`);
    return say(
      lines.length > 0 ? `Restricted models:\n${lines.join('\n')}` : 'Every model is open to everyone.',
    );
  }
  const model = name.toLowerCase();
  if (!deps.models.list().includes(model))
    return say(`There is no model "${name}". Models: ${deps.models.list().join(', ') || 'none installed'}.`);
  const usage = `Use "settings admin model ${model} ${ctx.platform === 'discord' ? 'roles @artists", "' : ''}admins" or "everyone".`;
  let access: ModelAccess | undefined;
  switch (mode?.toLowerCase()) {
    case 'everyone':
    case 'all':
    case 'reset':
      access = undefined;
      break;
    case 'admins':
      access = { admins: true };
      break;
    case 'roles':
    case 'role': {
      if (ctx.platform !== 'discord') return say(`Roles are a Discord thing. ${usage}`);
      const roles = roleWords.map(roleKeyOf);
      if (roles.length === 0 || roles.some((role) => role === undefined)) return say(usage);
      access = { roles: [...new Set(roles as string[])] };
      break;
    }
    default:
      return say(usage);
  }
  if (access) current[model] = access;
  else delete current[model];
  deps.store.setSetting('global', 'admin', 'modelAccess', current);
  return say(access ? `${model} is now for ${describeAccess(access)}.` : `${model} is open to everyone now.`);
}
