// Compiles src/*.sol with the pinned solc-js (no network: the compiler is in node_modules) and writes
// artifacts/<Contract>.json (ABI, bytecode, compiler version and settings). `node compile.js --check`
// compiles to memory and exits 1 when the committed artifacts differ (drift).
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const here = __dirname;
const sources = {};
for (const file of fs.readdirSync(path.join(here, "src")).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(here, "src", file), "utf8") };
}
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun", // what OpenZeppelin 5 needs (mcopy); py-evm, Anvil and the main chains run it
  metadata: { bytecodeHash: "ipfs" },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
function findImports(p) {
  const file = path.join(here, "node_modules", p);
  return fs.existsSync(file) ? { contents: fs.readFileSync(file, "utf8") } : { error: `not found: ${p}` };
}
const out = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings }), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(2);
}
const check = process.argv.includes("--check");
let drift = [];
for (const file of Object.keys(sources)) {
  for (const [name, c] of Object.entries(out.contracts[file])) {
    const artifact = {
      contractName: name, sourceName: `src/${file}`, compiler: `solc-js ${solc.version()}`, settings: {
        optimizer: settings.optimizer, evmVersion: settings.evmVersion },
      abi: c.abi, bytecode: "0x" + c.evm.bytecode.object, deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const target = path.join(here, "artifacts", `${name}.json`);
    if (check) {
      if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) drift.push(name);
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, text);
      console.log(`wrote artifacts/${name}.json (${c.evm.bytecode.object.length / 2} bytes)`);
    }
  }
}
if (check) {
  if (drift.length) {
    console.error(`artifacts differ from the sources: ${drift.join(", ")} (run: node contracts/compile.js)`);
    process.exit(1);
  }
  console.log("artifacts match the sources");
}
