/**
 * Conversation state that is neither a setting nor history: each conversation's redo stack (images
 * "undo" stepped back from) and each person's pending proposal (a reading flowbot asked "yes?" on).
 */
import { z } from 'zod';
import { jsonColumn, parseOptionalRow, type StoreContext } from './rows.js';

/** The longest redo stack kept; older steps fall off. */
export const REDO_DEPTH = 50;

const redoRow = z.object({ image_ids: jsonColumn.pipe(z.array(z.string())) });
const proposalRow = z
  .object({ image_id: z.string(), meaning: jsonColumn })
  .transform((row) => ({ imageId: row.image_id, meaning: row.meaning }));

/**
 * A reading flowbot proposed for an image and waits for a "yes" on. `meaning` is the command layer's
 * interpretation as JSON, checked there.
 */
export type PendingProposal = Readonly<z.output<typeof proposalRow>>;

/** Redo stacks per conversation and pending proposals per person. */
export class ConversationRepository {
  private readonly sql;

  constructor(private readonly context: StoreContext) {
    this.sql = prepare(context.db);
  }

  /** A conversation's redo stack, the next image to go forward to last; empty when there is none. */
  redoStack(conversation: string): string[] {
    return parseOptionalRow(redoRow, this.sql.getRedo.get(conversation))?.image_ids ?? [];
  }

  /** Replaces a conversation's redo stack (keeping the latest {@link REDO_DEPTH}); empty clears it. */
  setRedoStack(conversation: string, imageIds: readonly string[]): void {
    if (imageIds.length === 0) this.sql.deleteRedo.run(conversation);
    else
      this.sql.upsertRedo.run({
        conversation,
        image_ids: JSON.stringify(imageIds.slice(-REDO_DEPTH)),
        now: this.context.now(),
      });
  }

  /** The proposal waiting for this person's "yes", if any. */
  proposal(userId: string): PendingProposal | undefined {
    return parseOptionalRow(proposalRow, this.sql.getProposal.get(userId));
  }

  /** Remembers a proposal (replacing an earlier one), or forgets it with `undefined`. */
  setProposal(userId: string, proposal: PendingProposal | undefined): void {
    if (!proposal) this.sql.deleteProposal.run(userId);
    else
      this.sql.upsertProposal.run({
        user_id: userId,
        image_id: proposal.imageId,
        meaning: JSON.stringify(proposal.meaning),
        now: this.context.now(),
      });
  }
}

function prepare(db: StoreContext['db']) {
  return {
    getRedo: db.prepare('SELECT image_ids FROM redo_stacks WHERE conversation = ?'),
    upsertRedo: db.prepare(
      `INSERT INTO redo_stacks (conversation, image_ids, updated_at) VALUES (@conversation, @image_ids, @now)
       ON CONFLICT (conversation) DO UPDATE SET image_ids = excluded.image_ids, updated_at = excluded.updated_at`,
    ),
    deleteRedo: db.prepare('DELETE FROM redo_stacks WHERE conversation = ?'),
    getProposal: db.prepare('SELECT image_id, meaning FROM pending_proposals WHERE user_id = ?'),
    upsertProposal: db.prepare(
      `INSERT INTO pending_proposals (user_id, image_id, meaning, updated_at) VALUES (@user_id, @image_id, @meaning, @now)
       ON CONFLICT (user_id) DO UPDATE SET image_id = excluded.image_id, meaning = excluded.meaning,
         updated_at = excluded.updated_at`,
    ),
    deleteProposal: db.prepare('DELETE FROM pending_proposals WHERE user_id = ?'),
  };
}
