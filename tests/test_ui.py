"""The Dagster UI in a real browser (Playwright driving Debian's Chromium): the code location loads,
the asset catalog shows the platform's assets, and a run launched from the launchpad succeeds.
Screenshots go to the test's folder."""

import os
import re
import sys
from pathlib import Path


from .conftest import ROOT, require
from .test_deployment import Processes, free_port, wait_for, webserver_up

BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("DWC_CHROMIUM", "/usr/bin/chromium")


def test_ui_loads_the_location_and_launches_a_run(tmp_path):
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api as playwright
    except ImportError:
        require(False, "playwright is not installed (make install-test installs it)")
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    # No daemon here: runs launched from the UI start at once instead of waiting in the queue.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nrun_coordinator:\n"
                                       "  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n")
    dg.DagsterInstance.from_config(str(home)).dispose()
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_module: {module_name: dwc_pipelines.definitions, location_name: dwc}\n"
        f"  - python_file: {{relative_path: {ROOT / 'tests' / 'locations' / 'heartbeat.py'}, location_name: heartbeat}}\n")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DWC_HOME": str(tmp_path / "dwc"), "DWC_ENV": "local"}
    procs = Processes(tmp_path / "logs")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        procs.start("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
                                  "-w", str(tmp_path / "workspace.yaml")], env)

        wait_for(lambda: webserver_up(port), 180, "the webserver", procs)
        base = f"http://127.0.0.1:{port}"
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)

            page.goto(f"{base}/locations")
            page.get_by_text("dwc", exact=True).first.wait_for()
            page.get_by_text("heartbeat", exact=True).first.wait_for()
            page.screenshot(path=str(shots / "locations.png"))

            page.goto(f"{base}/assets/gov/pii_findings")
            page.get_by_text("Personal data found in current documents").first.wait_for()
            page.screenshot(path=str(shots / "asset.png"))
            page.goto(f"{base}/locations/dwc/asset-groups/governance")
            page.get_by_text("retention_log").first.wait_for()
            page.get_by_text("erasure_log").first.wait_for()
            page.screenshot(path=str(shots / "assets.png"))

            page.goto(f"{base}/locations/heartbeat/jobs/heartbeat_job/playground")
            page.get_by_role("button", name=re.compile(r"launch run", re.I)).wait_for()
            # A first visit shows Dagster's community dialog over the page: a user would skip it.
            skip = page.get_by_role("button", name="Skip")
            try:
                skip.wait_for(timeout=5_000)
                skip.click()
            except playwright.TimeoutError:
                pass
            page.screenshot(path=str(shots / "launchpad.png"))
            page.get_by_role("button", name=re.compile(r"launch run", re.I)).click()
            page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
            page.get_by_text(re.compile(r"^success$", re.I)).first.wait_for(timeout=120_000)
            page.screenshot(path=str(shots / "run.png"))
            browser.close()
    finally:
        procs.stop()
    assert all((shots / f).stat().st_size > 10_000 for f in ("locations.png", "asset.png", "assets.png", "launchpad.png", "run.png"))
