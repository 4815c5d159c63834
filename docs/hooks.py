"""MkDocs hooks: pull the README, BENCHMARKS and ``lightfm --help`` texts into the pages at build time.

The pages keep no copies of them; a placeholder on a line of its own is replaced before Markdown runs:

``<!-- include FILE#HEADING -->``
    The body of the section of ``FILE`` (a path from the repository root) whose heading is exactly
    ``HEADING``: the lines after the heading, up to the next heading of the same or a higher level.
    ``FILE#^`` is the text between the title (``# ...``) and the first ``##`` heading, ``FILE#*``
    everything after the title. Headings inside fenced code blocks are not headings.
``<!-- cli-help -->``
    ``lightfm --help`` and ``lightfm COMMAND --help`` of every subcommand, from the argparse parser
    itself (``lightfm.cli.parser.build_parser``), so new options appear without editing the page.

A heading that is missing fails the build (it raises), so renaming a README section cannot silently
empty a page. Links between the included files are rewritten to the pages that include them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import posixpath
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Repository files that pages include, and the page each one's links should point to.
# A link without an anchor goes to the page's anchor given here (BENCHMARKS.md: where its text starts).
INCLUDED_FILE_PAGES = {"README.md": "index.md", "BENCHMARKS.md": "performance.md#full-tables"}

_INCLUDE = re.compile(r"^<!-- include (?P<file>[^#\s]+)#(?P<section>.+?) -->[ \t]*$", re.MULTILINE)
_CLI_HELP = re.compile(r"^<!-- cli-help -->[ \t]*$", re.MULTILINE)
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _headings(lines: list[str]):
    """(line index, level, title) of every Markdown heading outside fenced code blocks."""
    fence = None
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if match:
            if fence is None:
                fence = match.group(1)
            elif match.group(1) == fence:
                fence = None
            continue
        if fence is None:
            heading = _HEADING.match(line)
            if heading:
                yield index, len(heading.group("hashes")), heading.group("title")


def section(file: str, name: str) -> str:
    """The text of section ``name`` of the repository file ``file`` (see the module docstring)."""
    lines = (REPO / file).read_text(encoding="utf-8").splitlines()
    headings = list(_headings(lines))
    if name in ("^", "*"):
        titles = [index for index, level, _ in headings if level == 1]
        start = titles[0] + 1 if titles else 0
        if name == "*":
            return "\n".join(lines[start:]).strip() + "\n"
        end = next((index for index, level, _ in headings if level == 2), len(lines))
        return "\n".join(lines[start:end]).strip() + "\n"
    for position, (index, level, title) in enumerate(headings):
        if title == name:
            end = next((i for i, lv, _ in headings[position + 1 :] if lv <= level), len(lines))
            return "\n".join(lines[index + 1 : end]).strip() + "\n"
    known = ", ".join(repr(title) for _, _, title in headings)
    raise ValueError(f"docs: {file} has no section {name!r} (its headings: {known})")


def _rewrite_links(text: str, page_uri: str) -> str:
    """Point links to the included repository files at the pages that include them."""

    def replace(match):
        target = match.group("target")
        path, _, anchor = target.partition("#")
        if path in INCLUDED_FILE_PAGES:
            page, _, default_anchor = INCLUDED_FILE_PAGES[path].partition("#")
            anchor = anchor or default_anchor
            relative = posixpath.relpath(page, posixpath.dirname(page_uri) or ".")
            return f"]({relative}{'#' + anchor if anchor else ''})"
        if path.startswith("docs/") and path.endswith(".md"):  # a docs page, linked from the repository root
            relative = posixpath.relpath(path.removeprefix("docs/"), posixpath.dirname(page_uri) or ".")
            return f"]({relative}{'#' + anchor if anchor else ''})"
        return match.group(0)

    return _LINK.sub(replace, text)


@contextlib.contextmanager
def _columns(width: int):
    """argparse wraps help to $COLUMNS: fix it so the page does not depend on the terminal."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def cli_help() -> str:
    """Markdown with the help text of ``lightfm`` and of each of its subcommands."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from lightfm.cli.parser import build_parser

    parser = build_parser()
    subcommands = next((action for action in parser._actions if isinstance(action, argparse._SubParsersAction)), None)
    if subcommands is None:
        raise ValueError("docs: the lightfm parser has no subcommands")
    parts = ["### `lightfm`", "", "```text", "$ lightfm --help"]
    with _columns(90):
        parts += [parser.format_help().rstrip(), "```", ""]
        for name, command in subcommands.choices.items():
            parts += [f"### `lightfm {name}`", "", "```text", f"$ lightfm {name} --help"]
            parts += [command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files, **kwargs):
    uri = page.file.src_uri
    markdown = _INCLUDE.sub(lambda m: _rewrite_links(section(m.group("file"), m.group("section")), uri), markdown)
    if _CLI_HELP.search(markdown):
        help_text = cli_help()
        markdown = _CLI_HELP.sub(lambda m: help_text, markdown)
    return markdown


def on_config(config, **kwargs):
    # mkdocstrings wraps long signatures with ruff or black; without either it only logs at INFO and
    # prints each signature on one line, cut off at the page's edge.
    if importlib.util.find_spec("ruff") is None and importlib.util.find_spec("black") is None:
        from mkdocs.exceptions import PluginError

        raise PluginError('docs: signatures are wrapped by ruff or black: pip install ".[docs]"')
    # Rebuild when the included files change under `mkdocs serve`.
    watch = config.setdefault("watch", [])
    for name in (*INCLUDED_FILE_PAGES, "lightfm"):
        path = str(REPO / name)
        if path not in watch:
            watch.append(path)
    return config
