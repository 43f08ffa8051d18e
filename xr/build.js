// Bundles src/viewer.js with three.js into dist/dwc-viewer.js: one classic script, no CDN, no network.
// `node build.js --check` exits 1 when the committed bundle differs from what the sources build to.
const fs = require("fs");
const path = require("path");
const esbuild = require("esbuild");

const out = esbuild.buildSync({
  entryPoints: [path.join(__dirname, "src", "viewer.js")], bundle: true, minify: true, format: "iife",
  globalName: "DWCViewer", target: ["chrome110", "firefox110", "safari16"], legalComments: "eof", write: false,
  logLevel: "error",
});
const text = out.outputFiles[0].text;
const target = path.join(__dirname, "dist", "dwc-viewer.js");
if (process.argv.includes("--check")) {
  if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) {
    console.error("dist/dwc-viewer.js differs from the sources (run: node xr/build.js)");
    process.exit(1);
  }
  console.log("dist/dwc-viewer.js matches the sources");
} else {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, text);
  console.log(`wrote dist/dwc-viewer.js (${text.length} bytes)`);
}
