/**
 * Discord's autocomplete for /imagine: model names, and LoRA names for the model chosen (or the
 * default one). The `lora` option takes `name` or `name:weight`, so what was typed after a colon is
 * kept; several LoRAs can be given in it, separated by spaces, and the last one is completed.
 */
import type { AutocompleteInteraction } from 'discord.js';

/** Where the names come from: the command layer's Bot. */
export interface NameSource {
  modelNames(): string[];
  loraNames(model?: string | null): string[];
}

/** At most this many choices (Discord's limit). */
const MAX_CHOICES = 25;

/** The choices for the focused option of an autocomplete interaction. */
export function autocompleteChoices(
  names: NameSource,
  focused: { name: string; value: string },
  model: string | null,
): { name: string; value: string }[] {
  if (focused.name === 'lora') {
    const loras = names.loraNames(model);
    const words = focused.value.split(/\s+/);
    const last = words.pop() ?? '';
    const [partial = '', weight] = last.split(':');
    const before = words.length > 0 ? `${words.join(' ')} ` : '';
    return loras
      .filter((n) => n.toLowerCase().includes(partial.toLowerCase()))
      .slice(0, MAX_CHOICES)
      .map((n) => {
        const value = `${before}${n}${weight !== undefined ? `:${weight}` : ''}`.slice(0, 100);
        return { name: value, value };
      });
  }
  const typed = focused.value.toLowerCase();
  return names
    .modelNames()
    .filter((m) => m.includes(typed))
    .slice(0, MAX_CHOICES)
    .map((m) => ({ name: m, value: m }));
}

/** Answers an autocomplete interaction. */
export async function answerAutocomplete(
  names: NameSource,
  interaction: AutocompleteInteraction,
): Promise<void> {
  const focused = interaction.options.getFocused(true);
  await interaction.respond(
    autocompleteChoices(
      names,
      { name: focused.name, value: String(focused.value) },
      interaction.options.getString('model'),
    ),
  );
}
