import { createHash } from 'node:crypto';

/** An 89-character token (the length of the vendor's), printable, no run of it found in ordinary text. */
export const LONG_TOKEN = (
  createHash('sha512').update('fleetclip secret one').digest('base64url') + createHash('sha512').update('secret two').digest('base64url')
).slice(0, 89);

/** Every piece of `token` at least `minChars` long found in `text`, as its start offsets in the token (none: no leak). */
export function tokenPiecesIn(text: string, token: string, minChars: number): number[] {
  const found: number[] = [];
  for (let i = 0; i + minChars <= token.length; i++) if (text.includes(token.slice(i, i + minChars))) found.push(i);
  return found;
}
