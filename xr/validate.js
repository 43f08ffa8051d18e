// The Khronos glTF validator on each file named: one JSON line per file with the issue counts and the
// first messages. Exit code 0 whatever the findings (the caller judges them); 2 on a usage error.
const fs = require("fs");
const validator = require("gltf-validator");

async function main(files) {
  if (!files.length) {
    console.error("usage: node validate.js FILE.glb [...]");
    process.exit(2);
  }
  for (const file of files) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {
      maxIssues: 200, externalResourceFunction: () => Promise.reject(new Error("external resources are not allowed")),
    });
    const i = report.issues;
    console.log(JSON.stringify({
      file, validator: report.validatorVersion, errors: i.numErrors, warnings: i.numWarnings, infos: i.numInfos,
      hints: i.numHints, messages: i.messages.slice(0, 20).map((m) => `${m.severity === 0 ? "error" : m.severity === 1 ? "warning" : "info"} ${m.code} ${m.pointer || ""}: ${m.message}`),
      info: report.info ? { drawCallCount: report.info.drawCallCount, totalVertexCount: report.info.totalVertexCount,
        totalTriangleCount: report.info.totalTriangleCount, extensionsUsed: report.info.extensionsUsed || [] } : {},
    }));
  }
}
main(process.argv.slice(2)).catch((e) => { console.error(String(e)); process.exit(3); });
