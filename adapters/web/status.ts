/**
 * A playground job leaves one message: its status message ("s-<job>") while it runs, then its result
 * ("r-<job>") or its failure ("e-<job>") in its place.
 */
import type { ChatLogEntry, Conversations } from '../../commands/conversations.js';

/** Removes a job's status message from the conversation and returns it, if it is there. */
export function takeStatus(conversations: Conversations, jobId: string): ChatLogEntry | undefined {
  const status = conversations.chatLogEntry(`s-${jobId}`);
  if (status) conversations.deleteChatLog(status.messageId);
  return status;
}

/** The message a job ended with, when it has ended already. */
export function finishedEntry(conversations: Conversations, jobId: string): ChatLogEntry | undefined {
  return conversations.chatLogEntry(`r-${jobId}`) ?? conversations.chatLogEntry(`e-${jobId}`);
}
