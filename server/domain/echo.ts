// No imports: the CLI's start-up path reaches this through status.ts (test/cli.bundle.test.ts).

/**
 * A value the user sent, for an error message: a string as it is, anything else as JSON, at most
 * 40 characters long, so a message stays short whatever was sent (a fuzz case sent a 3,000-character
 * array as a webhook event name).
 */
export function echoInput(v: unknown): string {
  const chars = [...(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)))];
  return chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : chars.join('');
}
