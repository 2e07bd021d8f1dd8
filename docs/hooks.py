"""MkDocs hooks (mkdocs.yml ``hooks:``): the HTTP reference rendered from the server's own
/openapi.json document at build time, the document itself published beside it, and the
repository files the docs link to (``../CHANGELOG.md``) published as pages, so a link that
works on GitHub works on the site too.

The reference is built from ``livejobs.edges.http_openapi.openapi()``, the function the server
serves, so the page cannot disagree with the server of the same commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

PLACEHOLDER = "<!-- openapi-reference -->"
ROOT = Path(__file__).resolve().parent.parent
#: repository files outside docs/ that the docs link to, and the page each becomes
OUTSIDE = {"../CHANGELOG.md": "changelog.md"}
VERBS = ("get", "post", "put", "patch", "delete")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from livejobs.edges.http_openapi import openapi

    document = json.dumps(openapi(), indent=2)
    files.append(File.generated(config, "openapi.json", content=document))
    for source, page in OUTSIDE.items():
        text = (ROOT / "docs" / source).resolve().read_text(encoding="utf-8")
        # written at the repository's top, it links into docs/ as "docs/..."
        text = text.replace("](docs/", "](")
        files.append(File.generated(config, page, content=text))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    for source, target in OUTSIDE.items():
        markdown = markdown.replace(f"]({source}", f"]({target}")
    if PLACEHOLDER in markdown:
        from livejobs.edges.http_openapi import openapi

        markdown = markdown.replace(PLACEHOLDER, render(openapi()))
    return markdown


# -- OpenAPI to Markdown --------------------------------------------------------------------


def render(doc: dict[str, Any]) -> str:
    parts = ["## Routes\n"]
    for path, ops in doc["paths"].items():
        for verb in VERBS:
            if verb in ops:
                parts.append(_operation(verb, path, ops[verb], doc))
    parts.append("## Schemas\n")
    for name, schema in sorted(doc["components"]["schemas"].items()):
        parts.append(_schema(name, schema))
    return "\n".join(parts)


def _operation(verb: str, path: str, op: dict[str, Any], doc: dict[str, Any]) -> str:
    lines = [f"### `{verb.upper()} {path}`\n", op.get("summary", "") + "\n"]
    if op.get("description"):
        lines.append(op["description"] + "\n")
    if not op.get("security", [{}]):
        lines.append("No token.\n")
    params = [_resolve(p, doc) for p in op.get("parameters", [])]
    if params:
        lines.append("| parameter | in | type | required |\n|---|---|---|---|")
        for param in params:
            schema = param.get("schema") or param["content"]["application/json"]["schema"]
            lines.append(
                f"| `{param['name']}` | {param['in']} | {_type(schema)} "
                f"| {'yes' if param.get('required') else 'no'} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        needed = "required" if body.get("required") else "optional"
        lines.append(f"Body ({needed}): {_type(schema)}\n")
    for status, answer in op["responses"].items():
        for media, content in answer.get("content", {}).items():
            lines.append(f"- **{status}** `{media}`: {_type(content['schema'])}")
    return "\n".join(lines) + "\n"


def _schema(name: str, schema: dict[str, Any]) -> str:
    lines = [f"### {name} {{#{_anchor(name)}}}\n"]
    if schema.get("description"):
        lines.append(schema["description"] + "\n")
    properties = schema.get("properties")
    if not properties:
        lines.append(f"{_type(schema)}\n")
        return "\n".join(lines)
    required = set(schema.get("required", []))
    lines.append("| field | type | required | default |\n|---|---|---|---|")
    for field, sub in properties.items():
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        mark = "yes" if field in required else "no"
        lines.append(f"| `{field}` | {_type(sub)} | {mark} | {default} |")
    return "\n".join(lines) + "\n"


def _resolve(item: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if not ref:
        return item
    _, section, kind, name = ref.split("/")
    return dict(doc[section][kind][name])


def _anchor(name: str) -> str:
    return "schema-" + name.lower().replace(".", "-")


def _type(schema: dict[str, Any]) -> str:
    """A schema in a few words, with links to the named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_type(s) for s in schema[key])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and "properties" in schema:
        fields = ", ".join(f"`{name}`: {_type(sub)}" for name, sub in schema["properties"].items())
        return f"object {{{fields}}}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    text = kind if isinstance(kind, str) else "any JSON value"
    limits = ("minLength", "maxLength", "minimum", "maximum")
    bounds = [f"{k} {schema[k]}" for k in limits if k in schema]
    return f"{text} ({', '.join(bounds)})" if bounds else text
