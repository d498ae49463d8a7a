/**
 * The settings table: key → JSON value per scope (a user, a channel, the admin's global ones). The
 * values' shapes are checked by the command layer's settings model, which knows each key.
 */
import { z } from 'zod';
import { jsonColumn, parseRows, type StoreContext } from './rows.js';

/** Scopes settings can be stored under. */
export const SETTING_SCOPES = ['user', 'channel', 'global'] as const;
/** A scope settings can be stored under. */
export type SettingScope = (typeof SETTING_SCOPES)[number];

const settingRow = z.object({ key: z.string(), value: jsonColumn });

/** Settings by scope. */
export class SettingsRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** Sets one setting; `undefined` removes it. */
  set(scope: SettingScope, scopeId: string, key: string, value: unknown): void {
    if (value === undefined) this.sql.delete.run(scope, scopeId, key);
    else
      this.sql.upsert.run({
        scope,
        scope_id: scopeId,
        key,
        value: JSON.stringify(value),
        now: this.context.now(),
      });
  }

  /** Every setting of one scope, as a key → value object. */
  of(scope: SettingScope, scopeId: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const row of parseRows(settingRow, this.sql.of.all(scope, scopeId))) out[row.key] = row.value;
    return out;
  }
}

function prepare(db: StoreContext['db']) {
  return {
    upsert: db.prepare(
      `INSERT INTO settings (scope, scope_id, key, value, updated_at) VALUES (@scope, @scope_id, @key, @value, @now)
       ON CONFLICT (scope, scope_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ),
    delete: db.prepare('DELETE FROM settings WHERE scope = ? AND scope_id = ? AND key = ?'),
    of: db.prepare('SELECT key, value FROM settings WHERE scope = ? AND scope_id = ? ORDER BY key'),
  };
}
