"""`dwc demo` on the shipped sample corpus, as `make demo` runs it."""

import os
import subprocess
import sys

from .conftest import ROOT


def test_demo_ingests_the_sample_corpus(tmp_path):
    env = {**os.environ, "DWC_HOME": str(tmp_path / "dwc"), "DAGSTER_HOME": str(ROOT),
           "DWC_DAGSTER_DIR": str(tmp_path / "dagster"), "DWC_DAGSTER_LOGS": str(tmp_path / "logs")}
    out = subprocess.run([sys.executable, "-m", "dwc_pipelines.cli", "demo", "--samples", "samples/landing"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    assert "SUCCESS" in text and "current documents 64" in text and "quarantined files 5" in text
    for reason in ("binary_content", "corrupt_pdf", "empty_file", "encrypted_pdf", "zip_bomb"):
        assert reason in text
    assert "make ui" in text and "dwc sql" in text
    # The run is in the instance that dagster.yaml describes, so the UI shows it.
    assert (tmp_path / "dagster" / "history" / "runs.db").exists()
