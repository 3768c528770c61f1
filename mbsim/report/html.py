"""A self-contained HTML page: tables, figures embedded as data URIs, goals, provenance.

The page makes no request to anything: its images are ``data:`` URIs, its style and its
one script are inline, and its Content-Security-Policy forbids every other source (a
stray URL would be blocked by the browser, and counted). The script writes what a test
in a real browser checks onto ``<body>``: ``data-images`` (how many), ``data-images-ok``
(how many have a natural size above zero) and ``data-requests`` (resources fetched that
are not ``data:`` URIs, plus blocked attempts).
"""
from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.met { color: #176f2c; font-weight: bold; } .missed { color: #b00020; font-weight: bold; }
.skipped, .not-measured { color: #8a6d00; font-weight: bold; }
.note { background: #f7f7f7; border-left: 4px solid #999; padding: 0.5em 1em; }
details { margin: 0.5em 0; } pre { font-size: 0.8em; overflow-x: auto; background: #fafafa; padding: 0.5em; }
nav a { margin-right: 1em; }
"""
SCRIPT = """
document.addEventListener('securitypolicyviolation', function () {
  var b = document.body; b.dataset.blocked = String(Number(b.dataset.blocked || 0) + 1);
});
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0 && i.naturalHeight > 0; });
  var fetched = performance.getEntriesByType('resource').filter(function (e) {
    return e.name.indexOf('data:') !== 0; });
  var b = document.body;
  b.dataset.images = String(imgs.length);
  b.dataset.imagesOk = String(ok.length);
  b.dataset.tables = String(document.querySelectorAll('table').length);
  b.dataset.requests = String(fetched.length + Number(b.dataset.blocked || 0));
  b.dataset.loaded = 'yes';
});
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


@dataclass
class Page:
    title: str
    parts: list[str] = field(default_factory=list)
    toc: list[tuple[str, str]] = field(default_factory=list)

    def section(self, anchor: str, title: str, intro: str | None = None) -> None:
        self.toc.append((anchor, title))
        self.parts.append(f'<h2 id="{esc(anchor)}">{esc(title)}</h2>')
        if intro:
            self.text(intro)

    def text(self, s: str) -> None:
        self.parts.append(f"<p>{esc(s)}</p>")

    def note(self, s: str) -> None:
        self.parts.append(f'<p class="note">{esc(s)}</p>')

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: Sequence[str] | None = None,
              caption: str | None = None) -> None:
        """A table of ``rows`` (dicts): one column per key in ``columns``."""
        import pandas as pd

        from mbsim.tables import fmt

        frame = pd.DataFrame([{h: fmt(r.get(c)) if not isinstance(r.get(c), str) else r.get(c)
                               for c, h in zip(columns, headers or columns)} for r in rows],
                             columns=list(headers or columns))
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        self.parts.append(frame.to_html(index=False, escape=True, border=0).replace("<thead>", cap + "<thead>", 1))

    def figure(self, path: Path | str, caption: str) -> None:
        data = base64.b64encode(Path(path).read_bytes()).decode()
        self.parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                          f"<figcaption>{esc(caption)}</figcaption></figure>")

    def goals(self, goals: Iterable[dict[str, Any]]) -> None:
        """Goals as a table: what, the number, met / missed / skipped / not measured (and why)."""
        rows = []
        for g in goals:
            status = g.get("status") or ("met" if g.get("met") else "missed")
            cls = status if status in ("met", "missed", "skipped") else "not-measured"
            rows.append(f'<tr><td>{esc(g["goal"])}</td><td>{esc(g.get("value", ""))}</td>'
                        f'<td class="{cls}">{esc(status)}</td></tr>')
        self.parts.append("<table><thead><tr><th>goal</th><th>measured</th><th>verdict</th></tr></thead><tbody>"
                          + "".join(rows) + "</tbody></table>")

    def provenance(self, prov: dict[str, Any], label: str = "provenance") -> None:
        self.parts.append(f"<details><summary>{esc(label)}</summary><pre>"
                          f"{esc(json.dumps(prov, indent=2, default=str))}</pre></details>")

    def files(self, files: dict[str, str], root: Path | None = None) -> None:
        items = "".join(f"<li><code>{esc(k)}</code>: <code>{esc(v)}</code></li>" for k, v in files.items())
        self.parts.append(f"<ul>{items}</ul>")

    def render(self, subtitle: str = "") -> str:
        nav = " ".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in self.toc)
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
                f"<title>{esc(self.title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>"
                f"<body><h1>{esc(self.title)}</h1><p>{esc(subtitle)}</p><nav>{nav}</nav>\n"
                + "\n".join(self.parts) + "\n</body></html>\n")

    def write(self, path: Path, subtitle: str = "") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.render(subtitle), encoding="utf-8")
        tmp.replace(path)
        return path
