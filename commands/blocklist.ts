/**
 * The server's blocklist (`settings admin blocklist add gore`, `… add /n[s5]fw/`): words and /regex/
 * entries, matched against the prompt as the model will read it (`foldForMatching`), so HTML entities,
 * full-width letters and zero-width characters cannot smuggle a blocked word past it.
 *
 * The work per prompt is bounded whatever an admin writes: all words are found in one pass (`WordSet`),
 * all /regex/ entries run together in one RE2 automaton (re2js, linear in the text: `/(a+)+$/` cannot
 * backtrack), the regexes' total program size is capped, and so is the length of the text checked.
 */
import { RE2JS, RE2Set } from 're2js';
import { ErrorCode, UserError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { foldForMatching } from '../src/prompt/fold.js';
import { WordSet } from '../src/prompt/word-set.js';

/** The most entries a blocklist holds. */
export const MAX_BLOCKLIST_ENTRIES = 500;
/** The longest entry, in characters. */
export const MAX_ENTRY_LENGTH = 200;
/**
 * The RE2 program size (instructions) all /regex/ entries may use together: the automaton's work per
 * character grows with it. A typical entry such as `/n[s5]fw/` uses under 20.
 */
export const REGEX_PROGRAM_BUDGET = 1_000;
/**
 * The longest folded prompt that is checked. Prompts are limited to 1,500 characters; only stuffing
 * characters that NFKC spells out long (`㍿`, `ﷺ`) gets past twice that, and such a prompt is refused.
 */
export const MAX_CHECKED_LENGTH = 3_000;
/**
 * Memory for the regex automaton's cached states. Past it RE2 resets the cache or runs its NFA, still
 * linear; building states is the costly part on text it has not seen, so a small cache bounds it sooner.
 */
const AUTOMATON_MEMORY = 256 * 1024;

/** Flags an entry may carry. Matching always ignores case and looks anywhere, so i, g, u and y change nothing. */
const SUPPORTED_FLAGS = 'imsguy';
const REGEX_ENTRY = /^\/(.+)\/([a-zA-Z]*)$/s;

const log = createLogger('blocklist');

/** A word entry, folded like prompts; matched as a whole word (see `WordSet` for what that means). */
interface WordEntry {
  readonly kind: 'word';
  readonly text: string;
}

/** A /regex/ entry in RE2 syntax, its flags as an inline group, and its program size. */
interface RegexEntry {
  readonly kind: 'regex';
  readonly source: string;
  readonly program: number;
}

/** An entry that cannot be matched, and why (a clause for "… can't go on the blocklist: <reason>."). */
interface UnusableEntry {
  readonly kind: 'unusable';
  readonly reason: string;
}

type ParsedEntry = WordEntry | RegexEntry | UnusableEntry;

/** A blocklist ready to match: one automaton for its words, one for its regexes, and the entries left out. */
interface CompiledBlocklist {
  readonly wordEntries: readonly string[];
  readonly words: WordSet;
  readonly regexEntries: readonly string[];
  readonly regexes: RE2Set | undefined;
  readonly unusable: ReadonlyMap<string, string>;
}

const unusable = (reason: string): UnusableEntry => ({ kind: 'unusable', reason });

function parseWord(entry: string): ParsedEntry {
  const text = foldForMatching(entry);
  if (text === '') return unusable('nothing is left of it once invisible characters are removed');
  return { kind: 'word', text };
}

/** The engine's own description of a syntax error, e.g. "invalid or unsupported Perl syntax: `(?=`". */
function syntaxProblem(error: unknown): string {
  return error instanceof Error ? error.message.replace(/^error parsing regexp: /, '') : 'unreadable';
}

function parseRegex(pattern: string, flags: string): ParsedEntry {
  const wrong = [...flags].find((flag, i) => !SUPPORTED_FLAGS.includes(flag) || flags.indexOf(flag) !== i);
  if (wrong !== undefined) {
    return unusable(
      `the flag "${wrong}" is ${SUPPORTED_FLAGS.includes(wrong) ? 'repeated' : 'not supported'}. ` +
        'Supported flags: i, m, s, g, u, y (entries always ignore case and match anywhere in the prompt)',
    );
  }
  const modifiers = [...'ms'].filter((flag) => flags.includes(flag)).join('');
  let compiled: RE2JS;
  let source: string;
  try {
    // JavaScript spellings RE2 lacks (`\u00e9`, `(?<name>…)`) become RE2's.
    const translated = RE2JS.translateRegExp(pattern);
    // Compiled alone first: an unbalanced pattern such as `a)|(b` would otherwise pass once wrapped.
    RE2JS.compile(translated, RE2JS.CASE_INSENSITIVE);
    source = `(?${modifiers}:${translated})`;
    compiled = RE2JS.compile(source, RE2JS.CASE_INSENSITIVE);
  } catch (error) {
    return unusable(
      `it is not a pattern I can run (${syntaxProblem(error)}). Blocklist patterns use RE2 syntax: ` +
        'no lookarounds or backreferences',
    );
  }
  // A pattern that matches nothing at all (`/x*/`) matches every prompt: almost certainly a slip.
  if (compiled.test('')) return unusable('it matches every prompt, since it can match no text at all');
  return { kind: 'regex', source, program: compiled.programSize() };
}

function parseEntry(entry: string): ParsedEntry {
  if (entry.length > MAX_ENTRY_LENGTH) return unusable(`it is longer than ${MAX_ENTRY_LENGTH} characters`);
  const regex = REGEX_ENTRY.exec(entry);
  return regex ? parseRegex(regex[1]!, regex[2]!) : parseWord(entry);
}

/** Parses every entry, in order, within the entry limit and the regexes' program budget. */
function compileBlocklist(entries: readonly string[]): CompiledBlocklist {
  const wordEntries: string[] = [];
  const words: string[] = [];
  const regexEntries: string[] = [];
  const sources: string[] = [];
  const left: Map<string, string> = new Map();
  let program = 0;
  for (const [index, entry] of entries.entries()) {
    const parsed =
      index < MAX_BLOCKLIST_ENTRIES
        ? parseEntry(entry)
        : unusable(`the blocklist holds at most ${MAX_BLOCKLIST_ENTRIES} entries`);
    if (parsed.kind === 'regex' && program + parsed.program > REGEX_PROGRAM_BUDGET) {
      left.set(
        entry,
        `with the other /regex/ entries it is too complex to check quickly (RE2 program size ${program} + ` +
          `${parsed.program}, at most ${REGEX_PROGRAM_BUDGET}). Simplify it, or use plain words`,
      );
    } else if (parsed.kind === 'regex') {
      program += parsed.program;
      regexEntries.push(entry);
      sources.push(parsed.source);
    } else if (parsed.kind === 'word') {
      wordEntries.push(entry);
      words.push(parsed.text);
    } else {
      left.set(entry, parsed.reason);
    }
  }
  return {
    wordEntries,
    words: new WordSet(words),
    regexEntries,
    regexes: automaton(sources),
    unusable: left,
  };
}

function automaton(sources: readonly string[]): RE2Set | undefined {
  if (sources.length === 0) return undefined;
  const set = new RE2Set(RE2Set.UNANCHORED, RE2JS.CASE_INSENSITIVE, AUTOMATON_MEMORY);
  for (const source of sources) set.add(source);
  set.compile();
  return set;
}

let cache: { readonly key: string; readonly compiled: CompiledBlocklist } | undefined;

/** The compiled form of a stored blocklist, compiled once per change (and its unusable entries logged). */
function compiledFor(entries: readonly string[]): CompiledBlocklist {
  const key = JSON.stringify(entries);
  if (cache?.key === key) return cache.compiled;
  const compiled = compileBlocklist(entries);
  if (compiled.unusable.size > 0) {
    log.warn('blocklist entries not in effect', { entries: Object.fromEntries(compiled.unusable) });
  }
  cache = { key, compiled };
  return compiled;
}

/** The entries that a folded text contains. */
function entriesIn(compiled: CompiledBlocklist, text: string): string[] {
  const hits = compiled.words.find(text).map((index) => compiled.wordEntries[index]!);
  for (const index of compiled.regexes?.match(text) ?? []) hits.push(compiled.regexEntries[index]!);
  return hits;
}

/**
 * Why `prompt` may not be made under the blocklist `entries` — the entries it contains once folded as
 * the model reads it, listed in the details — or undefined when it may.
 */
export function blocklistRefusal(prompt: string, entries: readonly string[]): UserError | undefined {
  if (entries.length === 0) return undefined;
  const text = foldForMatching(prompt);
  if (text.length > MAX_CHECKED_LENGTH) {
    return new UserError(
      ErrorCode.PromptInvalid,
      "That prompt is too long to check against this server's blocklist once its special characters are spelled out. Please shorten it.",
      { length: text.length, max: MAX_CHECKED_LENGTH },
    );
  }
  const hits = entriesIn(compiledFor(entries), text);
  if (hits.length === 0) return undefined;
  return new UserError(
    ErrorCode.PromptBlocked,
    "Sorry, I can't make that: part of your prompt is on this server's blocklist. Please rephrase it.",
    { blocked: hits },
  );
}

/** Why `entry` cannot be added to the blocklist `entries`, as a sentence for the admin; undefined if it can. */
export function blocklistEntryProblem(entry: string, entries: readonly string[]): string | undefined {
  const reason = compileBlocklist([...entries.filter((e) => e !== entry), entry]).unusable.get(entry);
  return reason === undefined ? undefined : `"${entry}" can't go on the blocklist: ${reason}.`;
}

/** The entries of a stored blocklist that are not in effect (saved before these checks), with why. */
export function unusableBlocklistEntries(entries: readonly string[]): ReadonlyMap<string, string> {
  return compiledFor(entries).unusable;
}
