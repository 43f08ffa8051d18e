"""The static viewer page written next to each scene: the three.js bundle beside it, the GLB inline.

A browser refuses `fetch` on file:// pages, so the page carries its scene as base64 and loads the
bundle (xr/dist/dwc-viewer.js, three.js bundled from npm by esbuild: no CDN) as a classic script,
which file:// allows. The same page works from any static web server.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

BUNDLE_NAME = "dwc-viewer.js"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  html, body {{ margin: 0; height: 100%; background: #10141c; color: #e8e8e8; font: 14px system-ui, sans-serif; }}
  #scene {{ position: absolute; inset: 0; }}
  header {{ position: absolute; left: 12px; top: 8px; z-index: 1; pointer-events: none; }}
  header small {{ opacity: .7; }}
  #legend {{ position: absolute; left: 12px; bottom: 10px; z-index: 1; max-width: 420px; padding: 6px 10px;
             background: #000a; border-radius: 4px; font-size: 12px; pointer-events: none; }}
  #legend ul {{ list-style: none; margin: 0 0 4px; padding: 0; }}
  #legend li span {{ display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }}
  #legend p {{ margin: 0; opacity: .8; }}
  #tip {{ position: fixed; display: none; padding: 3px 6px; background: #000c; border-radius: 3px; z-index: 2;
          pointer-events: none; }}
</style>
</head>
<body>
<header><strong>{title}</strong><br><small>{subtitle}</small></header>
<div id="scene"></div>
<aside id="legend" aria-label="Legend">{legend}</aside>
<div id="tip"></div>
<script src="{bundle}"></script>
<script>
DWCViewer.start(document.getElementById("scene"), "{glb}", {title_js});
</script>
</body>
</html>
"""


def write_if_changed(path: str | Path, data: bytes) -> bool:
    """Replace `path` atomically with `data` unless it holds exactly that already; True when written."""
    path = Path(path)
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def legend_html(legend: list[tuple[str, str]], note: str = "") -> str:
    """What the colours mean (a swatch per colour) and how sizes and positions read."""
    items = "".join(
        f'<li><span style="background:{html.escape(colour)}"></span>{html.escape(text)}</li>' for colour, text in legend
    )
    return (f"<ul>{items}</ul>" if items else "") + (f"<p>{html.escape(note)}</p>" if note else "")


def write_page(
    glb_path: str, title: str, subtitle: str, bundle: str, legend: list[tuple[str, str]] = (), note: str = ""
) -> str:
    """`<scene>.html` beside `<scene>.glb`, and the bundle beside both; returns the page's path."""
    glb = Path(glb_path)
    write_if_changed(glb.parent / BUNDLE_NAME, Path(bundle).read_bytes())
    page = glb.with_suffix(".html")
    text = PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(subtitle),
        legend=legend_html(list(legend), note),
        bundle=BUNDLE_NAME,
        glb=base64.b64encode(glb.read_bytes()).decode("ascii"),
        title_js='"' + title.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\u003c") + '"',
    )
    write_if_changed(page, text.encode("utf-8"))
    return str(page)
