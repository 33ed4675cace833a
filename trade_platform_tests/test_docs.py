"""The documentation's links hold: every relative link of the README, CONTRIBUTING.md and docs/
points to a file that exists and every ``#anchor`` to a heading of its page, and every page the
code cites exists. Sections move between pages; a stale link would send a reader nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CITED_PAGE = re.compile(r"\b(?:docs/[\w-]+|README|CONTRIBUTING|BENCHMARKS)\.md\b")
CITING = ["trade_platform", "trade_platform_tests", "scripts", "benchmarks", "deploy", "Makefile", ".ci"]


def prose(page: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings: lower case, punctuation dropped, spaces as
    hyphens, a repeated heading numbered."""
    found: set[str] = set()
    for line in prose(page):
        if heading := re.match(r"#{1,6} (.+)", line):
            slug = re.sub(r"[^\w\- ]", "", heading[1].strip().lower()).replace(" ", "-")
            unique, n = slug, 0
            while unique in found:
                n += 1
                unique = f"{slug}-{n}"
            found.add(unique)
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for line in prose(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(target)
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_points_to_an_existing_file_and_heading(page: Path):
    assert page.exists()
    assert broken_links(page) == []


def test_a_link_to_a_missing_page_or_heading_is_found(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-section-with-code) [ok](#page) [web](https://example.com)\n"
        "[gone](gone.md) [no heading](other.md#nowhere)\n"
        "```\n# a comment in a code block, not a heading: [code](inside.md)\n```\n# Page\n"
    )
    assert broken_links(page) == ["gone.md", "other.md#nowhere"]


def citing_files() -> list[Path]:
    """The files of the code, tests, scripts and configuration that may cite a page."""
    files = []
    for name in CITING:
        path = REPO / name
        files += [path] if path.is_file() else path.rglob("*")
    return files


def test_every_page_the_code_cites_exists():
    cited = {
        match
        for path in citing_files()
        if path.is_file() and path.suffix in ("", ".py", ".yaml", ".xml", ".sh")
        for match in CITED_PAGE.findall(path.read_text(errors="ignore"))
    }
    assert cited and {page for page in cited if not (REPO / page).exists()} == set()
