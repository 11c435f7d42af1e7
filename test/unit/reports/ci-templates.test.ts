import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

// The CI templates (ci-templates/) call only what exists: every `./bin/drm <command> --option` is a
// command and option of the real CLI (asked through `./bin/drm --help`, so the compiled CLI: `npm test`
// builds it first), every `npm run <script>` a script of package.json, every `npm <cmd>` an npm command.

const REPO = join(import.meta.dirname, '..', '..', '..');
const DRM = join(REPO, 'bin', 'drm');
const TEMPLATES = ['github-actions.yml', 'gitlab-ci.yml', 'Jenkinsfile'] as const;
type Template = (typeof TEMPLATES)[number];

/** The npm commands the templates may use (npm's own, not scripts). */
const NPM_COMMANDS = new Set(['ci', 'install', 'test', 'run', 'run-script', 'exec', 'pack']);
const SCRIPTS = Object.keys(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts as Record<string, string>);

function help(args: string[]): string {
  return execFileSync(process.execPath, [DRM, ...args, '--help'], { cwd: REPO, encoding: 'utf8' });
}

/** Command names from the "Commands:" section of `drm --help` (help itself left out). */
function drmCommands(): string[] {
  const text = help([]);
  const section = text.slice(text.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
}

const optionCache = new Map<string, Set<string>>();
function drmOptions(command: string): Set<string> {
  if (!optionCache.has(command)) optionCache.set(command, new Set(help([command]).match(/--[a-z][\w-]*/g) ?? []));
  return optionCache.get(command)!;
}

function read(template: Template): string {
  return readFileSync(join(REPO, 'ci-templates', template), 'utf8');
}

/** The shell each template runs, one entry per `run:` / script line / `sh` step. */
function shellOf(template: Template): string[] {
  const text = read(template);
  if (template === 'github-actions.yml') {
    const doc = parseYaml(text) as { jobs: Record<string, { steps: Array<{ run?: string }> }> };
    return Object.values(doc.jobs).flatMap((job) => job.steps.flatMap((s) => (s.run ? [s.run] : [])));
  }
  if (template === 'gitlab-ci.yml') {
    const doc = parseYaml(text) as Record<string, unknown>;
    const out: string[] = [];
    for (const job of Object.values(doc)) {
      if (!job || typeof job !== 'object' || Array.isArray(job)) continue;
      for (const key of ['before_script', 'script', 'after_script']) {
        const lines = (job as Record<string, unknown>)[key];
        if (Array.isArray(lines)) out.push(...lines.map(String));
      }
    }
    return out;
  }
  // Jenkinsfile: `sh '...'` or `sh "..."` steps; any other form of sh would go unchecked, so it fails.
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!/^\s*sh\b/.test(line)) continue;
    const m = line.match(/^\s*sh\s+(?:'([^']*)'|"([^"]*)")\s*$/);
    expect(m, `Jenkinsfile: unrecognized sh step: ${line.trim()}`).not.toBeNull();
    out.push(m![1] ?? m![2]);
  }
  return out;
}

interface Call {
  program: 'drm' | 'npm';
  command: string;
  args: string[];
  line: string;
}

/** The drm and npm invocations in some shell: split at && || ; | and newlines, env assignments skipped. */
function callsOf(shell: string[]): Call[] {
  const calls: Call[] = [];
  for (const block of shell) {
    for (const segment of block.split(/&&|\|\||[;|\n]/)) {
      const words = segment.trim().split(/\s+/).filter(Boolean);
      while (words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) words.shift();
      if (words[0] === './bin/drm' || words[0] === 'drm' || (words[0] === 'npx' && words[1] === 'drm')) {
        const start = words[0] === 'npx' ? 2 : 1;
        calls.push({ program: 'drm', command: words[start] ?? '', args: words.slice(start + 1), line: segment.trim() });
      } else if (words[0] === 'npm') {
        calls.push({ program: 'npm', command: words[1] ?? '', args: words.slice(2), line: segment.trim() });
      }
    }
  }
  return calls;
}

const drmCalls = (t: Template) => callsOf(shellOf(t)).filter((c) => c.program === 'drm');
const npmCalls = (t: Template) => callsOf(shellOf(t)).filter((c) => c.program === 'npm');

describe.each(TEMPLATES)('ci-templates/%s', (template) => {
  it('calls drm only as ./bin/drm, with commands and options the CLI has', () => {
    const text = read(template);
    expect(text, 'never `npx drm`: npm resolves that name to an unrelated package').not.toMatch(/npx\s+drm\b/);
    const commands = drmCommands();
    const calls = drmCalls(template);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.line, 'call drm as ./bin/drm in a checkout').toMatch(/^\.\/bin\/drm /);
      expect(commands, `${template}: \`${call.line}\`: "${call.command}" is not a command of ./bin/drm`).toContain(call.command);
      const options = drmOptions(call.command);
      for (const arg of call.args.filter((a) => a.startsWith('--'))) expect(options, `${template}: \`${call.line}\`: drm ${call.command} has no option ${arg}`).toContain(arg.split('=')[0]);
    }
  });

  it('calls only npm commands and package.json scripts that exist', () => {
    const calls = npmCalls(template);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(NPM_COMMANDS, `${template}: \`${call.line}\``).toContain(call.command);
      if (call.command === 'run' || call.command === 'run-script') expect(SCRIPTS, `${template}: \`${call.line}\`: no such script`).toContain(call.args[0]);
      if (call.command === 'test') expect(SCRIPTS).toContain('test');
    }
  });

  it('installs drm, runs the tests and drm e2e --quick, and builds the badge', () => {
    const npm = npmCalls(template).map((c) => c.command);
    expect(npm).toContain('ci');
    expect(npm).toContain('test');
    const drm = drmCalls(template);
    const e2e = drm.filter((c) => c.command === 'e2e');
    expect(e2e, 'runs drm e2e').toHaveLength(1);
    expect(e2e[0].args).toContain('--quick');
    expect(e2e[0].args).toContain('--output-dir');
    const out = e2e[0].args[e2e[0].args.indexOf('--output-dir') + 1];
    const badge = drm.filter((c) => c.command === 'badge');
    expect(badge.length).toBeGreaterThan(0);
    // The e2e badge is built from what e2e wrote.
    expect(badge.some((c) => c.args.some((a) => a.startsWith(`${out}/`)))).toBe(true);
  });

  it('publishes junit.xml and report.html as artifacts', () => {
    const text = read(template);
    if (template === 'github-actions.yml') {
      const doc = parseYaml(text) as { jobs: Record<string, { steps: Array<{ uses?: string; with?: { path?: string } }> }> };
      const paths = Object.values(doc.jobs)
        .flatMap((j) => j.steps)
        .filter((s) => s.uses?.startsWith('actions/upload-artifact@'))
        .map((s) => s.with?.path ?? '')
        .join('\n');
      expect(paths).toMatch(/e2e-report\/junit\.xml/);
      expect(paths).toMatch(/e2e-report\/report\.html/);
      expect(paths).toMatch(/self-test\/junit\.xml/);
      expect(paths).toMatch(/self-test\/report\.html/);
    } else if (template === 'gitlab-ci.yml') {
      const e2e = (parseYaml(text) as Record<string, { artifacts?: { when?: string; paths?: string[]; reports?: { junit?: string } } }>).e2e;
      expect(e2e.artifacts?.when).toBe('always');
      expect(e2e.artifacts?.paths).toContain('e2e-report/report.html');
      expect(e2e.artifacts?.reports?.junit).toBe('e2e-report/junit.xml');
    } else {
      expect(text).toMatch(/^\s*junit\b.*e2e-report\/junit\.xml/m);
      expect(text).toMatch(/^\s*archiveArtifacts\b.*e2e-report\/report\.html/m);
    }
  });
});

describe('the GitHub template', () => {
  it('runs drm on its own tests with the self-test suite', () => {
    const run = drmCalls('github-actions.yml').find((c) => c.command === 'run');
    expect(run, 'a ./bin/drm run step').toBeDefined();
    expect(run!.args[0]).toBe('drm-self-test.yaml');
    expect(existsSync(join(REPO, run!.args[0]))).toBe(true);
    expect(run!.line).toContain('--workers cpu=2');
    expect(run!.args).toContain('--output-dir');
  });
});
