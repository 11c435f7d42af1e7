// Tiny `--name value` parser shared by the example scripts (kept dependency-free so each runs with plain node).
export function numberArg(argv, name, fallback) {
  const i = argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${argv[1] ?? 'script'}: --${name} needs a positive number, got ${JSON.stringify(argv[i + 1])}`);
    process.exit(2);
  }
  return value;
}
