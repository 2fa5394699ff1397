/** Small pieces of HTML writing shared by the report's sections. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an element or an attribute value: every string that comes from a manifest goes through this. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A number for an SVG coordinate: at most two decimals, no trailing zeros. */
export const svgNumber = (n: number): string => String(Math.round(n * 100) / 100);

/** A percentage for CSS (`left`, `width`), three decimals at most. */
export const percent = (part: number, whole: number): string => `${whole > 0 ? Math.round((part / whole) * 100_000) / 1000 : 0}%`;

export const formatGib = (bytes: number): string =>
  `${(bytes / 2 ** 30).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} GiB`;
