"""The catalogue as Markdown (docs/events.md) and as an HTML page (served by the gateway)."""

from __future__ import annotations

import html
import json

from halcyon.shared.catalogue.about import (
    DELIVERY,
    VERSION,
    deprecation_notice,
    description,
    is_partner,
    ordered_contracts,
)
from halcyon.shared.catalogue.examples import example_envelope
from halcyon.shared.catalogue.fields import field_rows
from halcyon.shared.contracts import EventContract


def _example_json(contract: type[EventContract]) -> str:
    return json.dumps(example_envelope(contract), indent=2)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown() -> str:
    contracts = ordered_contracts()
    lines = [
        "# Event catalogue",
        "",
        "Generated from `halcyon.shared.contracts` by `python -m halcyon.shared.catalogue docs`;",
        "the machine-readable version is `docs/asyncapi.json` (AsyncAPI 3.0), and the gateway",
        "serves this catalogue as a page at `/events`. Every message is a CloudEvents",
        "envelope whose `data` is the contract below; the Kafka key is `subject`.",
        "Partners read only `partner.*` topics (listed first).",
        "",
        "| topic | type | key (subject) | fields |",
        "|---|---|---|---|",
    ]
    for contract in contracts:
        fields = ", ".join(
            f"`{n}`" + ("" if f.is_required() else "?") for n, f in contract.model_fields.items()
        )
        deprecated = " (deprecated)" if contract.deprecated_after else ""
        lines.append(
            f"| `{contract.topic}` | `{contract.event_type}`{deprecated} "
            f"| `{contract.subject_field}` | {fields} |"
        )
    lines += [
        "",
        "Versioning: adding an optional field keeps `v1`. A breaking change is a new contract",
        "`….v2` on topic `<aggregate>.v2`, published alongside v1 for a deprecation period;",
        "`docs/schemas/` holds the published schema of every contract, and a test refuses a",
        "change a v1 consumer would break on.",
        "",
    ]
    for heading, group in (
        ("For partners", [c for c in contracts if is_partner(c)]),
        ("Internal topics", [c for c in contracts if not is_partner(c)]),
    ):
        lines += [f"# {heading}", ""]
        for contract in group:
            lines += _markdown_section(contract)
    return "\n".join(lines)


def _markdown_section(contract: type[EventContract]) -> list[str]:
    lines = [f"## `{contract.event_type}`", ""]
    notice = deprecation_notice(contract)
    if notice:
        lines += [f"**{notice}**", ""]
    lines += [
        description(contract),
        "",
        f"Topic `{contract.topic}`, key `{contract.subject_field}`.",
        "",
        "| field | type | required | description |",
        "|---|---|---|---|",
    ]
    for row in field_rows(contract):
        lines.append(
            f"| `{row.name}` | {_md_cell(row.type)} | {'yes' if row.required else 'no'} "
            f"| {_md_cell(row.description)} |"
        )
    lines += [
        "",
        "Example (the whole envelope):",
        "",
        "```json",
        _example_json(contract),
        "```",
        "",
    ]
    return lines


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{margin:.2rem 0}h2{margin-top:2.5rem;border-bottom:2px solid #d6dbe3;padding-bottom:.3rem}
section.event{background:#fff;border:1px solid #dde2ea;border-radius:8px;padding:1rem 1.4rem;
margin:1.2rem 0}
section.event h3{margin:.2rem 0 .6rem;font-family:ui-monospace,Menlo,monospace;font-size:1.05rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.6rem 0}
dt{color:#5a6475}dd{margin:0;font-family:ui-monospace,Menlo,monospace}
table{border-collapse:collapse;width:100%;margin:.8rem 0;font-size:.92rem}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e6e9ef;vertical-align:top}
th{background:#f0f2f5}td.name,td.type{font-family:ui-monospace,Menlo,monospace}
pre{background:#1d2330;color:#e8ecf3;padding:.9rem;border-radius:6px;overflow-x:auto;
font-size:.85rem}
.deprecated{background:#fff4e5;border-left:4px solid #e08a00;padding:.5rem .8rem}
.lead{color:#3b4452}nav ul{columns:2}code{font-family:ui-monospace,Menlo,monospace}
"""


def catalogue_html() -> str:
    """The catalogue as one self-contained page (no scripts, no external assets)."""
    e = html.escape
    contracts = ordered_contracts()
    groups = (
        (
            "partners",
            "For partners",
            "Topics a partner may be granted (SASL/SCRAM, read-only, per audience).",
            [c for c in contracts if is_partner(c)],
        ),
        (
            "internal",
            "Internal topics",
            "Topics between Halcyon's services; no partner is granted them.",
            [c for c in contracts if not is_partner(c)],
        ),
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Halcyon event catalogue {e(VERSION)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        "<h1>Halcyon event catalogue</h1>",
        f'<p class="lead">{e(DELIVERY)}</p>',
        '<p>Machine-readable: <a href="/asyncapi.json">/asyncapi.json</a> (AsyncAPI 3.0); '
        'as Markdown: <a href="/events.md">/events.md</a>. Adding an optional field keeps '
        "the version; a breaking change is a new <code>.v2</code> contract published "
        "alongside the old one until its deprecation date.</p>",
        "<nav>",
    ]
    for anchor, heading, _, group in groups:
        parts.append(f'<h2><a href="#{anchor}">{e(heading)}</a></h2><ul>')
        parts += [
            f'<li><a href="#{e(c.event_type)}"><code>{e(c.event_type)}</code></a></li>'
            for c in group
        ]
        parts.append("</ul>")
    parts.append("</nav>")
    for anchor, heading, intro, group in groups:
        parts += [f'<h2 id="{anchor}">{e(heading)}</h2>', f"<p>{e(intro)}</p>"]
        parts += [_html_section(c) for c in group]
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _html_section(contract: type[EventContract]) -> str:
    e = html.escape
    notice = deprecation_notice(contract)
    paragraphs = [p for p in description(contract).split("\n\n") if p.strip()]
    rows = "".join(
        f'<tr><td class="name">{e(r.name)}</td><td class="type">{e(r.type)}</td>'
        f"<td>{'yes' if r.required else 'no'}</td><td>{e(r.description)}</td></tr>"
        for r in field_rows(contract)
    )
    return "".join(
        [
            f'<section class="event" id="{e(contract.event_type)}">',
            f"<h3>{e(contract.event_type)}</h3>",
            f'<p class="deprecated">{e(notice.replace("`", ""))}</p>' if notice else "",
            "".join(f"<p>{e(' '.join(p.split()))}</p>" for p in paragraphs),
            "<dl>",
            f"<dt>type</dt><dd>{e(contract.event_type)}</dd>",
            f"<dt>topic</dt><dd>{e(contract.topic)}</dd>",
            f"<dt>key</dt><dd>{e(contract.subject_field)} (the envelope's subject)</dd>",
            f"<dt>schema</dt><dd>{e(contract.schema_uri())}</dd>",
            "</dl>",
            "<table><thead><tr><th>field</th><th>type</th><th>required</th>"
            f"<th>description</th></tr></thead><tbody>{rows}</tbody></table>",
            "<p>Example envelope:</p>",
            f"<pre><code>{e(_example_json(contract))}</code></pre>",
            "</section>",
        ]
    )
