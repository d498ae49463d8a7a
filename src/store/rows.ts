/**
 * What the repositories share: the database handle and clock, new short ids, and the zod schemas
 * that read SQLite rows. better-sqlite3 hands back untyped rows; every row is parsed here, never cast.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { shortId } from '../ids.js';

/** The database and clock every repository is built with. */
export interface StoreContext {
  readonly db: Database.Database;
  readonly now: () => number;
}

/** A TEXT column that may be NULL. */
export const optionalText = z.string().nullable();
/** An INTEGER or REAL column that may be NULL. */
export const optionalNumber = z.number().nullable();

/** A JSON TEXT column (NULL reads as null): the JSON value, still to be checked by its own schema. */
export const jsonColumn = optionalText.transform((value): unknown =>
  value === null ? null : JSON.parse(value),
);

/** A value as a JSON column stores it; `undefined` stores NULL. */
export function toJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** Parses one row, or undefined where the query found none. */
export function parseOptionalRow<T>(schema: z.ZodType<T>, row: unknown): T | undefined {
  return row === undefined ? undefined : schema.parse(row);
}

/** Parses every row of a query. */
export function parseRows<T>(schema: z.ZodType<T>, rows: readonly unknown[]): T[] {
  return rows.map((row) => schema.parse(row));
}

const countRow = z.object({ count: z.number() });

/** Reads a `SELECT COUNT(*) AS count` row. */
export function countOf(row: unknown): number {
  return countRow.parse(row).count;
}

/** A new short id that `exists` says is free; ids grow a character when a length runs crowded. */
export function uniqueId(exists: (candidate: string) => boolean): string {
  for (let length = 6; ; length++) {
    for (let attempt = 0; attempt < 8; attempt++) {
      const candidate = shortId(length);
      if (!exists(candidate)) return candidate;
    }
  }
}
