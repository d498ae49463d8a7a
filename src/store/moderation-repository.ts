/**
 * Image moderation's verdicts: the classifier's score of each image (recorded with the image, before it
 * is posted) and the action taken when it was first shown (allow, spoiler or block) under the channel's
 * policy. A blocked image stays in the store, marked here, for admins.
 */
import { z } from 'zod';
import { jsonColumn, optionalNumber, optionalText, parseOptionalRow, type StoreContext } from './rows.js';

/** What moderation may do with an image. */
export const MODERATION_ACTIONS = ['allow', 'spoiler', 'block'] as const;
/** What moderation may do with an image. */
export type ModerationAction = (typeof MODERATION_ACTIONS)[number];

const verdictRow = z
  .object({
    image_id: z.string(),
    score: z.number().min(0).max(1),
    classes: jsonColumn.pipe(z.record(z.string(), z.number())),
    model: z.string(),
    action: optionalText.pipe(z.enum(MODERATION_ACTIONS).nullable()),
    threshold: optionalNumber,
    decided_at: optionalNumber,
  })
  .transform((row) => ({
    imageId: row.image_id,
    score: row.score,
    classes: row.classes,
    model: row.model,
    action: row.action,
    threshold: row.threshold,
    decidedAt: row.decided_at,
  }));

/** An image's moderation record: its score, and the decision once it was shown. */
export type ModerationVerdict = Readonly<z.output<typeof verdictRow>>;

/** A classifier's reading of one image. */
export interface ModerationScore {
  /** The explicit-content score, 0–1. */
  readonly score: number;
  /** Every class's probability, by name. */
  readonly classes: Readonly<Record<string, number>>;
  /** Which classifier read it. */
  readonly model: string;
}

/** Verdicts per image. */
export class ModerationRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** Records (or replaces) an image's score; any earlier decision is kept. */
  recordScore(imageId: string, reading: ModerationScore): void {
    this.sql.upsertScore.run({
      image_id: imageId,
      score: reading.score,
      classes: JSON.stringify(reading.classes),
      model: reading.model,
      now: this.context.now(),
    });
  }

  /** Records the action taken when the image was shown, and the threshold it was taken at. */
  recordDecision(imageId: string, action: ModerationAction, threshold: number): void {
    this.sql.decide.run({ image_id: imageId, action, threshold, now: this.context.now() });
  }

  /** An image's verdict, or undefined when it was never checked. */
  get(imageId: string): ModerationVerdict | undefined {
    return parseOptionalRow(verdictRow, this.sql.get.get(imageId));
  }
}

function prepare(db: StoreContext['db']) {
  return {
    upsertScore: db.prepare(
      `INSERT INTO image_moderation (image_id, score, classes, model, created_at)
       VALUES (@image_id, @score, @classes, @model, @now)
       ON CONFLICT (image_id) DO UPDATE SET score = excluded.score, classes = excluded.classes, model = excluded.model`,
    ),
    decide: db.prepare(
      `UPDATE image_moderation SET action = @action, threshold = @threshold, decided_at = @now
       WHERE image_id = @image_id`,
    ),
    get: db.prepare(
      'SELECT image_id, score, classes, model, action, threshold, decided_at FROM image_moderation WHERE image_id = ?',
    ),
  };
}
