import { describe, expect, it } from 'vitest';
import { REPORT_CLIENT_JS } from '../../../src/reports/html-client.js';
import { escapeHtml, loadHtmlAssets, scriptJson, toHtml } from '../../../src/reports/html.js';
import { sampleReportData } from './sample-report.js';

const GENERATED = new Date('2026-01-02T04:00:00.000Z');

async function page(data = sampleReportData()): Promise<string> {
  return toHtml(data, await loadHtmlAssets(), GENERATED);
}

/** The JSON the page carries for its charts. */
function inlinedData(html: string): any {
  const m = html.match(/<script type="application\/json" id="drm-report-data">([\s\S]*?)<\/script>/);
  expect(m, 'the data script element').not.toBeNull();
  return JSON.parse(m![1]);
}

describe('report.html', () => {
  it('inlines uPlot (script and styles) and the report data, and nothing else', async () => {
    const html = await page();
    const { uplotJs, uplotCss } = await loadHtmlAssets();
    expect(uplotJs).toContain('uPlot');
    expect(html).toContain(uplotJs.trim().slice(0, 200));
    expect(html).toContain(uplotCss.trim().slice(0, 200));
    expect(html).toContain(REPORT_CLIENT_JS.trim().slice(0, 100));
    // Exactly three scripts: data, uPlot, the chart code; no script or stylesheet is loaded from elsewhere.
    expect(html.match(/<script\b/g)).toHaveLength(3);
    expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
    expect(html).not.toMatch(/<link[^>]*rel="stylesheet"/i);
    const data = inlinedData(html);
    expect(data.report).toEqual(JSON.parse(JSON.stringify(sampleReportData().report)));
    expect(data.report.timeline.atMs.length).toBeGreaterThan(2);
  });

  it('refers to no external URL (no http(s) src, href or url())', async () => {
    const html = await page();
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    // The only absolute URLs are the SVG namespace and uPlot's license banner, which load nothing.
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    for (const url of urls) expect(['http://www.w3.org/2000/svg', 'https://github.com/leeoniya/uPlot']).toContain(url);
  });

  it('shows the run summary, the task table and the scaling decisions, escaped', async () => {
    const html = await page();
    expect(html).toContain('<title>drm run sample &lt;suite&gt; &amp; &quot;co&quot;: failed</title>');
    expect(html).toContain('data-field="total"><div class="value">3</div>');
    expect(html).toContain('data-field="failed"><div class="value">1</div>');
    expect(html).toContain('data-field="peak-workers"><div class="value">2</div>');
    const rows = [...html.matchAll(/<tr data-task-id="([^"]+)" data-state="([^"]+)">([\s\S]*?)<\/tr>/g)];
    expect(rows.map((r) => [r[1], r[2]])).toEqual([
      ['t1', 'succeeded'],
      ['t2', 'succeeded'],
      ['t3', 'failed'],
    ]);
    const failed = rows[2][3];
    for (const cell of ['flaky&lt;script&gt;alert(1)&lt;/script&gt;', 'cpu', '>2<', '11.00 s', '>120<', 'exited with code 1 &lt;bad&gt;']) expect(failed).toContain(cell);
    expect(html).not.toContain('<script>alert(1)');
    // The data keeps no raw "<": it cannot close its script element.
    expect(html.match(/id="drm-report-data">[^]*?<\/script>/)![0]).not.toMatch(/<(?!\/script>$)/);
    expect(html.match(/<tr data-action="[^"]+"/g)).toEqual(['<tr data-action="scale_up"', '<tr data-action="scale_down"']);
    expect(html).toContain('1 “maintain” decision(s) not listed.');
    for (const chart of ['cpu', 'memory', 'gpu', 'queue', 'workers']) expect(html).toContain(`data-chart="${chart}"`);
    expect(html).not.toContain('id="checks"');
  });

  it('lists the checks of drm e2e when the report has them', async () => {
    const html = await page(
      sampleReportData({
        checks: [
          { name: 'placement fits', passed: true, detail: 'all 40 tasks on a fitting type' },
          { name: 'scaled <down>', passed: false, detail: 'no scale_down in cool-down' },
        ],
      }),
    );
    expect(html).toContain('id="checks"');
    expect(html).toContain('<tr data-check="placement fits" data-passed="true">');
    expect(html).toContain('<tr data-check="scaled &lt;down&gt;" data-passed="false">');
    expect(html).toContain('data-field="checks"><div class="value">1/2</div>');
    expect(inlinedData(html).report.checks).toHaveLength(2);
  });

  it('still renders a report without a timeline', async () => {
    const data = sampleReportData();
    delete data.report.timeline;
    const html = await page(data);
    expect(inlinedData(html).report.timeline).toBeUndefined();
    expect(html).toContain('data-chart="cpu"');
  });

  it('has chart code that parses as a script', () => {
    expect(() => new Function(REPORT_CLIENT_JS)).not.toThrow();
    expect(REPORT_CLIENT_JS).not.toMatch(/https?:\/\//);
  });
});

describe('escaping helpers', () => {
  it('escapes HTML and keeps JSON inert inside a script element', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const json = scriptJson({ s: '</script><!-- \u2028' });
    expect(json).not.toContain('<');
    expect(json).not.toContain('\u2028');
    expect(JSON.parse(json)).toEqual({ s: '</script><!-- \u2028' });
  });
});
