"""The tools an XR scene build reaches: the Khronos glTF validator and glTF Transform (Node.js, from
npm, in xr/node_modules), the viewer bundle, and a headless browser for screenshots.

Each tool is optional at run time: a build without it records why (in its metadata) instead of failing,
because `make demo` installs no npm package. `make install-test` installs them, and the tests use them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
from pydantic import Field

XR_DIR = Path(__file__).resolve().parents[1] / "xr"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class XRToolsResource(dg.ConfigurableResource):
    """Where scenes are written, and the validator, optimiser and browser that check them."""

    scenes_dir: str = Field(description="Folder of the built scenes (GLB, viewer page, screenshot)")
    tools_dir: str = Field(default=str(XR_DIR), description="xr/ with node_modules (npm ci) and dist/dwc-viewer.js")
    node: str = Field(default="node", description="Node.js executable")
    browser: str | None = Field(default=None, description="Chromium executable (default: found on the PATH)")
    optimize: bool = Field(default=True, description="Run `gltf-transform optimize` when it is installed")
    timeout_s: float = Field(default=300.0, description="Per tool invocation")

    @classmethod
    def local(cls) -> XRToolsResource:
        from .lakehouse import dwc_home

        return cls(scenes_dir=os.path.join(dwc_home(), "xr"))

    def bundle(self) -> str:
        path = Path(self.tools_dir) / "dist" / "dwc-viewer.js"
        if not path.exists():
            raise FileNotFoundError(f"no viewer bundle at {path} (cd xr && npm ci && node build.js)")
        return str(path)

    def _node_ok(self) -> bool:
        return shutil.which(self.node) is not None

    def validator_missing(self) -> str | None:
        if not self._node_ok():
            return f"{self.node} is not installed"
        if not (Path(self.tools_dir) / "node_modules" / "gltf-validator").is_dir():
            return "gltf-validator is not installed (make install-test runs npm ci in xr/)"
        return None

    def validate(self, paths: list[str]) -> list[dict]:
        """One report per file: errors, warnings, infos, hints, the first messages."""
        out = subprocess.run(
            [self.node, str(Path(self.tools_dir) / "validate.js"), *paths],
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )
        if out.returncode != 0:
            raise RuntimeError(f"gltf-validator failed: {out.stderr.strip()[:500]}")
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def optimizer(self) -> str | None:
        cli = Path(self.tools_dir) / "node_modules" / ".bin" / "gltf-transform"
        return str(cli) if cli.exists() and self._node_ok() else None

    def optimize_glb(self, src: str, dst: str) -> None:
        """`gltf-transform optimize` keeping every named node (no flatten, join or palette, which would merge
        the items a person points at): quantised attributes (KHR_mesh_quantization, read natively by three.js),
        deduplicated and pruned accessors, instancing of repeated meshes."""
        out = subprocess.run(
            [
                self.optimizer(),
                "optimize",
                src,
                dst,
                "--compress",
                "quantize",
                "--flatten",
                "false",
                "--join",
                "false",
                "--palette",
                "false",
                "--simplify",
                "false",
                "--texture-compress",
                "false",
            ],
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )
        if out.returncode != 0:
            raise RuntimeError(f"gltf-transform optimize failed: {(out.stderr or out.stdout).strip()[-500:]}")

    def browser_path(self) -> str | None:
        if self.browser:
            return self.browser if shutil.which(self.browser) or os.path.exists(self.browser) else None
        return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)

    def screenshot(self, page: str, png: str, width: int = 960, height: int = 640) -> None:
        """Headless Chromium renders the viewer page (WebGL in SwiftShader) and saves a PNG."""
        browser = self.browser_path()
        profile = Path(png).with_suffix(".profile")
        try:
            out = subprocess.run(
                [
                    browser,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--enable-unsafe-swiftshader",
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    "--virtual-time-budget=8000",
                    "--hide-scrollbars",
                    f"--screenshot={png}",
                    Path(page).resolve().as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
            )
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        if out.returncode != 0 or not os.path.exists(png):
            raise RuntimeError(f"{browser} made no screenshot: {out.stderr.strip()[-500:]}")
