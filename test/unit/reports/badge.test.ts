import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BADGE_COLORS, badgeEndpoint, badgeFor, BadgeSourceSchema, badgeSvg, textWidth, writeBadge, type BadgeSource } from '../../../src/reports/badge.js';
import { sampleReportData } from './sample-report.js';

function source(summary: Partial<BadgeSource['summary']>, state = 'succeeded', checks?: BadgeSource['checks']): BadgeSource {
  return { run: { state }, summary: { total: 7, succeeded: 7, failed: 0, timedOut: 0, canceled: 0, ...summary }, checks };
}

describe('badgeFor', () => {
  it('is green when every task passed, red on a failure or timeout, orange when tasks were only canceled', () => {
    expect(badgeFor(source({}))).toEqual({ label: 'drm', message: '7/7 passed', color: 'brightgreen' });
    expect(badgeFor(source({ succeeded: 5, failed: 2 }, 'failed'))).toEqual({ label: 'drm', message: '5/7 passed', color: 'red' });
    expect(badgeFor(source({ succeeded: 6, timedOut: 1 }, 'failed')).color).toBe('red');
    expect(badgeFor(source({ succeeded: 5, canceled: 2 }, 'canceled'))).toEqual({ label: 'drm', message: '5/7 passed', color: 'orange' });
  });

  it('says when a run is still going or has no tasks', () => {
    expect(badgeFor(source({ succeeded: 3 }, 'running'))).toEqual({ label: 'drm', message: '3/7 passed, running', color: 'blue' });
    expect(badgeFor(source({ total: 0, succeeded: 0 }))).toEqual({ label: 'drm', message: 'no tasks', color: 'lightgrey' });
  });

  it('counts the checks of drm e2e when there are any', () => {
    const checks = [
      { name: 'placement', passed: true },
      { name: 'scaled down', passed: false },
    ];
    expect(badgeFor(source({}, 'succeeded', checks), 'e2e')).toEqual({ label: 'e2e', message: '1/2 checks passed', color: 'red' });
    expect(badgeFor(source({ failed: 1, succeeded: 6 }, 'failed', [checks[0]])).color).toBe('brightgreen');
  });

  it('reads a report.json', () => {
    const report = JSON.parse(JSON.stringify(sampleReportData().report));
    expect(badgeFor(BadgeSourceSchema.parse(report))).toEqual({ label: 'drm', message: '2/3 passed', color: 'red' });
    expect(BadgeSourceSchema.safeParse({ run: {} }).success).toBe(false);
  });
});

describe('badge.svg', () => {
  const attr = (svg: string, re: RegExp) => Number(svg.match(re)![1]);

  it('is a flat shields-style badge sized from its text', () => {
    const svg = badgeSvg({ label: 'drm', message: '7/7 passed', color: 'brightgreen' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('<title>drm: 7/7 passed</title>');
    expect(svg).toContain('aria-label="drm: 7/7 passed"');
    expect(svg).toContain(`fill="${BADGE_COLORS.brightgreen}"`);
    expect(svg.match(/>drm</g)).toHaveLength(2); // text and its shadow
    expect(svg.match(/>7\/7 passed</g)).toHaveLength(2);
    const width = attr(svg, /<svg[^>]* width="(\d+)"/);
    const labelWidth = attr(svg, /<rect width="(\d+)" height="20" fill="#555"/);
    const messageWidth = attr(svg, /<rect x="\d+" width="(\d+)"/);
    expect(labelWidth).toBe(textWidth('drm') + 10);
    expect(messageWidth).toBe(textWidth('7/7 passed') + 10);
    expect(width).toBe(labelWidth + messageWidth);
    expect(attr(svg, /<rect x="(\d+)"/)).toBe(labelWidth);
    // Text is laid out at 10x: the label centred in its half, stretched to its measured width.
    expect(svg).toContain(`x="${(labelWidth / 2) * 10}" y="140" transform="scale(.1)" fill="#fff" textLength="${textWidth('drm') * 10}"`);
  });

  it('grows with longer text and uses the colour of the status', () => {
    const short = badgeSvg({ label: 'drm', message: '1/1 passed', color: 'brightgreen' });
    const long = badgeSvg({ label: 'drm self-test', message: '123/130 passed', color: 'red' });
    const width = (svg: string) => Number(svg.match(/<svg[^>]* width="(\d+)"/)![1]);
    expect(width(long)).toBeGreaterThan(width(short));
    expect(long).toContain(`fill="${BADGE_COLORS.red}"`);
    expect(textWidth('mmmm')).toBeGreaterThan(textWidth('iiii'));
    expect(textWidth('')).toBe(0);
  });

  it('escapes the label and message', () => {
    const svg = badgeSvg({ label: `a<b & "c" 'd'`, message: '1/2 <passed>', color: 'orange' });
    expect(svg).toContain('<title>a&lt;b &amp; &quot;c&quot; &apos;d&apos;: 1/2 &lt;passed&gt;</title>');
    expect(svg).toContain('>a&lt;b &amp; &quot;c&quot; &apos;d&apos;</text>');
    expect(svg).not.toContain('<b ');
    expect(svg).not.toContain('<passed>');
    // Every tag opened is closed: the SVG stays well-formed.
    const opened = (svg.match(/<(svg|title|g|text|linearGradient|clipPath)\b/g) ?? []).length;
    const closed = (svg.match(/<\/(svg|title|g|text|linearGradient|clipPath)>/g) ?? []).length;
    expect(opened).toBe(closed);
  });
});

describe('badge.json and writeBadge', () => {
  it('writes the SVG and the shields.io endpoint JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drm-badge-'));
    try {
      const badge = { label: 'drm', message: '5/7 passed', color: 'red' as const };
      expect(await writeBadge(badge, join(dir, 'out'))).toEqual([join(dir, 'out', 'badge.svg'), join(dir, 'out', 'badge.json')]);
      expect(JSON.parse(await readFile(join(dir, 'out', 'badge.json'), 'utf8'))).toEqual({ schemaVersion: 1, label: 'drm', message: '5/7 passed', color: 'red' });
      expect(await readFile(join(dir, 'out', 'badge.svg'), 'utf8')).toBe(badgeSvg(badge));
      expect(badgeEndpoint(badge)).toEqual({ schemaVersion: 1, label: 'drm', message: '5/7 passed', color: 'red' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
