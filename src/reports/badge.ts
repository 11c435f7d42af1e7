import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

// Status badges of a run (DESIGN.md section 10): badge.svg, a flat shields-style badge, and
// badge.json in the shields.io endpoint format, so a README can show either.

export const BADGE_COLORS = {
  brightgreen: '#4c1',
  green: '#97ca00',
  yellow: '#dfb317',
  orange: '#fe7d37',
  red: '#e05d44',
  blue: '#007ec6',
  lightgrey: '#9f9f9f',
} as const;
export type BadgeColor = keyof typeof BADGE_COLORS;

export interface Badge {
  label: string;
  message: string;
  color: BadgeColor;
}

export const DEFAULT_BADGE_LABEL = 'drm';
export const MAX_BADGE_LABEL = 64;

/** What a badge is made from: the parts of report.json it reads (a report.json file parses into this). */
export const BadgeSourceSchema = z.object({
  run: z.object({ state: z.string() }),
  summary: z.object({ total: z.number(), succeeded: z.number(), failed: z.number(), timedOut: z.number(), canceled: z.number() }),
  checks: z.array(z.object({ name: z.string(), passed: z.boolean() })).optional(),
});
export type BadgeSource = z.infer<typeof BadgeSourceSchema>;

/**
 * The badge of a run. With checks (`drm e2e`) the checks decide: "5/5 checks passed". Otherwise the
 * tasks do: "7/7 passed" (brightgreen), a failure or timeout makes it red, only cancellations orange,
 * a run still going is blue, a run without tasks grey.
 */
export function badgeFor(source: BadgeSource, label: string = DEFAULT_BADGE_LABEL): Badge {
  const { run, summary: s, checks } = source;
  if (checks && checks.length > 0) {
    const passed = checks.filter((c) => c.passed).length;
    return { label, message: `${passed}/${checks.length} checks passed`, color: passed === checks.length ? 'brightgreen' : 'red' };
  }
  if (run.state === 'running') return { label, message: `${s.succeeded}/${s.total} passed, running`, color: 'blue' };
  if (s.total === 0) return { label, message: 'no tasks', color: 'lightgrey' };
  const message = `${s.succeeded}/${s.total} passed`;
  if (s.succeeded === s.total) return { label, message, color: 'brightgreen' };
  return { label, message, color: s.failed + s.timedOut > 0 ? 'red' : 'orange' };
}

/** badge.json: the shields.io endpoint format (https://shields.io/badges/endpoint-badge). */
export function badgeEndpoint(b: Badge): { schemaVersion: 1; label: string; message: string; color: BadgeColor } {
  return { schemaVersion: 1, label: b.label, message: b.message, color: b.color };
}

// Advance widths of Verdana at 11 px (the font shields badges are measured in), from its metrics
// (units per em 2048). Characters not listed count as a wide letter, so text is never clipped.
const NARROW = 3.02; // i l
const WIDTHS: Record<string, number> = {
  ' ': 3.87, '!': 4.33, '"': 5.46, '#': 9, '%': 11.84, '&': 7.99, "'": 2.95, '(': 5.0, ')': 5.0, '*': 6.99, '+': 9, ',': 4.0, '-': 4.99,
  '.': 4.0, '/': 5.0, ':': 5.0, ';': 5.0, '<': 9, '=': 9, '>': 9, '?': 5.98, '@': 11.0, '[': 5.0, '\\': 5.0, ']': 5.0, '_': 6.99, '|': 5.0,
  a: 6.6, b: 6.85, c: 5.73, d: 6.85, e: 6.55, f: 3.87, g: 6.85, h: 6.96, i: NARROW, j: 3.79, k: 6.51, l: NARROW, m: 10.7, n: 6.96, o: 6.68,
  p: 6.85, q: 6.85, r: 4.69, s: 5.73, t: 4.33, u: 6.96, v: 6.51, w: 9.0, x: 6.51, y: 6.51, z: 5.87,
  A: 7.52, B: 7.54, C: 7.68, D: 8.47, E: 6.95, F: 6.33, G: 8.52, H: 8.27, I: 5.0, J: 5.0, K: 7.59, L: 6.13, M: 9.49, N: 8.23, O: 8.66,
  P: 6.63, Q: 8.66, R: 7.65, S: 7.53, T: 6.71, U: 8.05, V: 7.52, W: 10.88, X: 7.53, Y: 6.72, Z: 7.53,
};
const DIGIT = 6.99;
const OTHER = 8.5;

/** Width in px of `text` in Verdana 11 px, rounded up. */
export function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += /\d/.test(ch) ? DIGIT : (WIDTHS[ch] ?? OTHER);
  return Math.ceil(w);
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xml = (text: string) => text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '').replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);

const PADDING = 5;

/** Dark text on light backgrounds, white otherwise (as shields does). */
function textColors(hex: string): { fill: string; shadow: string } {
  const full = hex.length === 4 ? hex.replace(/^#(.)(.)(.)$/, '#$1$1$2$2$3$3') : hex;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(full.slice(i, i + 2), 16));
  const brightness = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
  return brightness > 0.69 ? { fill: '#333', shadow: '#ccc' } : { fill: '#fff', shadow: '#010101' };
}

/** A flat badge: grey label on the left, coloured message on the right, widths from the text. */
export function badgeSvg(b: Badge): string {
  const labelText = textWidth(b.label);
  const messageText = textWidth(b.message);
  const labelWidth = labelText + 2 * PADDING;
  const messageWidth = messageText + 2 * PADDING;
  const width = labelWidth + messageWidth;
  const color = BADGE_COLORS[b.color];
  const label = xml(b.label);
  const message = xml(b.message);
  const title = `${label}: ${message}`;
  const labelColors = textColors('#555');
  const messageColors = textColors(color);
  // Text is laid out at 10x and scaled down, as shields does, for sub-pixel placement.
  const text = (content: string, centre: number, length: number, colors: { fill: string; shadow: string }) =>
    `<text aria-hidden="true" x="${centre * 10}" y="150" fill="${colors.shadow}" fill-opacity=".3" transform="scale(.1)" textLength="${length * 10}">${content}</text>` +
    `<text x="${centre * 10}" y="140" transform="scale(.1)" fill="${colors.fill}" textLength="${length * 10}">${content}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
    '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>',
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>`,
    `<g clip-path="url(#r)"><rect width="${labelWidth}" height="20" fill="#555"/><rect x="${labelWidth}" width="${messageWidth}" height="20" fill="${color}"/><rect width="${width}" height="20" fill="url(#s)"/></g>`,
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">`,
    text(label, labelWidth / 2, labelText, labelColors),
    text(message, labelWidth + messageWidth / 2, messageText, messageColors),
    '</g></svg>',
    '',
  ].join('');
}

/** Writes badge.svg and badge.json into `dir`; returns their paths. */
export async function writeBadge(b: Badge, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const svg = join(dir, 'badge.svg');
  const json = join(dir, 'badge.json');
  await writeFile(svg, badgeSvg(b));
  await writeFile(json, JSON.stringify(badgeEndpoint(b)) + '\n');
  return [svg, json];
}
