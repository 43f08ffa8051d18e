"""The Dagster UI as a person uses it: Playwright driving Debian's headless Chromium against
`dagster dev` (the project's workspace.yaml and dagster.yaml, daemon included) on the sample corpus.
The asset graph shows every domain group; "Materialize all" on the ingestion group launches a run
that reaches Success; the documents asset shows its metadata preview and its chart. Screenshots go
to the folder this test names (tmp_path/screenshots, printed on failure)."""

import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .conftest import ROOT, require
from .test_deployment import Processes, free_port, wait_for, webserver_up

BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("DWC_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def chromium_page():
    """A page of Debian's headless Chromium (Playwright drives it), generous with waits on a busy machine;
    yields the page and the playwright module (its TimeoutError)."""
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api as playwright
    except ImportError:
        require(False, "playwright is not installed (make install-test installs it)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(120_000)
            yield page, playwright
        finally:
            browser.close()


def skip_community_dialog(page, playwright) -> None:
    """A first visit shows Dagster's "Join the Dagster community" dialog over the page; a user skips it."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=15_000)
        skip.click()
    except playwright.TimeoutError:
        pass


def launched_from_ui(instance, after: float) -> str | None:
    import dagster as dg

    for run in instance.get_runs(filters=dg.RunsFilter(created_after=datetime.fromtimestamp(after, UTC))):
        if (
            "dagster/sensor_name" not in run.tags
            and "dagster/schedule_name" not in run.tags
            and run.asset_selection
            and dg.AssetKey(["docs", "documents"]) in run.asset_selection
        ):
            return run.run_id
    return None


def test_ui_materialises_the_ingestion_group_on_the_sample_data(tmp_path, monkeypatch):
    from dwc_pipelines.definitions import defs

    groups = sorted({spec.group_name for spec in defs.resolve_all_asset_specs()})
    home = tmp_path / "dwc"
    shutil.copytree(ROOT / "samples" / "landing", home / "landing")
    port = free_port()
    # What `make ui` sets: the repository's dagster.yaml, its state under a DWC_HOME of our own.
    env = {
        **os.environ,
        "DAGSTER_HOME": str(ROOT),
        "DWC_HOME": str(home),
        "DWC_ENV": "local",
        "DWC_DAGSTER_DIR": str(tmp_path / "dagster"),
        "DWC_DAGSTER_LOGS": str(tmp_path / "dagster" / "logs"),
    }
    for name in ("DWC_DAGSTER_DIR", "DWC_DAGSTER_LOGS"):  # this process reads the same instance
        monkeypatch.setenv(name, env[name])
    procs = Processes(tmp_path / "logs")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    import dagster as dg

    instance = None
    try:
        procs.start(
            "dagster-dev",
            [str(BIN / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            env,
        )
        wait_for(lambda: webserver_up(port), 240, "dagster dev", procs)
        instance = dg.DagsterInstance.from_config(str(ROOT))
        base = f"http://127.0.0.1:{port}"
        with chromium_page() as (page, playwright):
            page.goto(f"{base}/asset-groups")
            skip_community_dialog(page, playwright)
            for group in groups:
                page.get_by_text(group, exact=True).first.wait_for()
            page.screenshot(path=str(shots / "1-asset-graph.png"))

            page.goto(f"{base}/locations/dwc/asset-groups/ingestion")
            materialize = page.get_by_role("button", name=re.compile(r"Materialize all")).first
            materialize.wait_for()
            page.get_by_text("documents", exact=True).first.wait_for()
            page.screenshot(path=str(shots / "2-ingestion-group.png"))
            clicked = time.time()
            materialize.click()
            page.get_by_text(re.compile(r"Launched run|Materializing", re.I)).first.wait_for()
            page.screenshot(path=str(shots / "3-launched.png"))
            # The run the click launched (the daemon's sensors launch runs of their own meanwhile).
            run_id = wait_for(lambda: launched_from_ui(instance, clicked), 120, "the launched run", procs)
            page.goto(f"{base}/runs/{run_id}")
            wait_for(lambda: instance.get_run_by_id(run_id).is_finished, 600, "the run to finish", procs, step=2)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS, procs.log("dagster-dev")
            page.get_by_text(re.compile(r"^success$", re.I)).first.wait_for()
            page.screenshot(path=str(shots / "4-run-success.png"))

            page.goto(f"{base}/assets/docs/documents")
            page.get_by_text("newest_documents").first.wait_for()
            page.screenshot(path=str(shots / "5-asset-page.png"), full_page=True)
            # Markdown metadata opens in a dialog, as a person would open it.
            page.locator("tr", has_text="newest_documents").get_by_text("[Show Markdown]").first.click()
            preview = page.get_by_role("dialog")
            preview.get_by_text("source", exact=True).first.wait_for()
            assert "contracts/" in preview.inner_text(), "the preview lists the newest documents"
            page.wait_for_timeout(1000)  # the dialog's opening animation
            page.screenshot(path=str(shots / "6-metadata-preview.png"))
            page.keyboard.press("Escape")
            page.locator("tr", has_text="by_format_chart").get_by_text("[Show Markdown]").first.click()
            chart = page.locator("img[alt='Current documents by format']").first
            chart.wait_for()
            assert chart.evaluate("img => img.complete && img.naturalWidth") > 200, "the chart is an image that loaded"
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "7-metadata-plot.png"))
        run = instance.get_run_by_id(run_id)
        assert {"docs/documents", "docs/quarantine", "docs/chunks", "docs/near_duplicates"} <= {
            k.to_user_string() for k in run.asset_selection
        }, "the run materialised the ingestion group"
    finally:
        procs.stop()
        if instance:
            instance.dispose()
    for name in (
        "1-asset-graph",
        "2-ingestion-group",
        "3-launched",
        "4-run-success",
        "5-asset-page",
        "6-metadata-preview",
        "7-metadata-plot",
    ):
        assert (shots / f"{name}.png").stat().st_size > 10_000, name
