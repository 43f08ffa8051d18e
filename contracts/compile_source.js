// Compiles one Solidity source read from stdin as JSON {"name", "source"} with the pinned solc-js (no
// network) and prints {"contracts": {Name: {abi, bytecode}}} or {"errors": [...]}: what the API's
// POST /api/v3/blockchain/smart-contracts records.
const solc = require("solc");
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { name, source } = JSON.parse(input);
  const file = `${name}.sol`;
  const request = {
    language: "Solidity",
    sources: { [file]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(request), { import: () => ({ error: "imports are not resolved here" }) }));
  const errors = (out.errors || []).filter((e) => e.severity === "error").map((e) => e.formattedMessage);
  if (errors.length) {
    process.stdout.write(JSON.stringify({ errors, compiler: solc.version() }));
    return;
  }
  const contracts = {};
  for (const [cname, c] of Object.entries(out.contracts[file] || {})) {
    contracts[cname] = { abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
  }
  process.stdout.write(JSON.stringify({ contracts, compiler: solc.version() }));
});
