"""The README and docs/ say what the code does: every command, every reason code, every link."""

import argparse
import re

from .conftest import ROOT

DOCS = ROOT / "docs"


def _commands(parser, prefix="dwc"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}"
                yield from _commands(sub, f"{prefix} {name}")


def test_every_command_is_in_the_cli_page():
    from dwc_pipelines.cli import build_parser

    page = (DOCS / "cli.md").read_text()
    missing = [c for c in _commands(build_parser()) if f"`{c}`" not in page]
    assert not missing, f"docs/cli.md does not list {missing}"


def _reason_codes_in_code() -> set[str]:
    raised = re.compile(r'\b(?:Rejected|Bad|quarantine)\(\s*"([a-z_]+)"|\breason_code="([a-z_]+)"')
    codes = set()
    for path in (ROOT / "dwc_pipelines").rglob("*.py"):
        codes |= {a or b for a, b in raised.findall(path.read_text())}
    # Problems the landing-zone listing records before a file is read.
    landing = (ROOT / "dwc_pipelines" / "ingestion" / "landing.py").read_text()
    codes |= set(re.findall(r'"(symlink_outside_landing|hostile_file_name|unreadable|special_file)"', landing))
    return codes


def test_every_reason_code_is_documented():
    codes = _reason_codes_in_code()
    assert {"empty_file", "zip_bomb", "absurd_value", "unknown_scene", "unreadable", "archive_too_deep"} <= codes, codes
    assert {"special_file", "encrypted", "type_mismatch"} <= codes, codes
    page = (DOCS / "reason-codes.md").read_text()
    missing = sorted(c for c in codes if f"`{c}`" not in page)
    assert not missing, f"docs/reason-codes.md does not explain {missing}"


def test_links_resolve_and_the_readme_is_one_page():
    pages = [ROOT / "README.md", *DOCS.glob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken
    linked = set(re.findall(r"\(docs/([a-z-]+\.md)\)", (ROOT / "README.md").read_text()))
    assert linked == {p.name for p in DOCS.glob("*.md")}, "every docs/ page is linked from the README"
    assert len((ROOT / "README.md").read_text().splitlines()) <= 120
