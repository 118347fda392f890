"""The documentation stays inside the repository: every relative link in README.md and docs/*.md resolves to a
file (or folder) of this repository, and the README's architecture link is docs/architecture.md.

Links are Markdown inline links `[text](target)` and reference definitions `[label]: target`, outside fenced
code blocks and code spans. Absolute URLs (`https:`, `mailto:` ...) are not followed; a `#fragment` on a
Markdown file must name one of its headings (GitHub's anchor rules).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def links(document: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", document.read_text()))
    return [m.group(1) for m in INLINE.finditer(text)] + [m.group(1) for m in REFERENCE.finditer(text)]


def anchors(document: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", document.read_text())
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def broken_links(document: Path, root: Path = REPO) -> list[str]:
    problems = []
    for target in links(document):
        if SCHEME.match(target) or target.startswith("//"):
            continue                                    # absolute URL: not a file of the repository
        path_part, _, fragment = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if not resolved.is_relative_to(root):
            problems.append(f"{target}: points outside the repository ({resolved})")
        elif not resolved.exists():
            problems.append(f"{target}: no such file in the repository")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            problems.append(f"{target}: {resolved.relative_to(root)} has no heading '#{fragment}'")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(REPO)) for d in DOCUMENTS])
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    problems = broken_links(document)
    assert not problems, f"{document.relative_to(REPO)}:\n  " + "\n  ".join(problems)


def test_the_readme_links_the_architecture_inside_the_repository() -> None:
    readme = REPO / "README.md"
    assert "docs/architecture.md" in links(readme), "README.md must link the architecture: docs/architecture.md"
    assert "ARCHITECTURE.md" not in readme.read_text(), "README.md still names an architecture outside the repo"


def test_the_check_finds_links_outside_the_repository_and_missing_files(tmp_path: Path) -> None:
    """The checker itself: a link out of the repository, a missing file and a missing heading are reported;
    links in code, absolute URLs and good relative links are not."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text("# Readme\n")
    (root / "docs" / "component.md").write_text("# Component\n")
    document = root / "docs" / "sample.md"
    document.write_text(
        "# Title\n\n[out](../../shared/ARCHITECTURE.md) [gone](missing.md) [anchor](#no-such-heading)\n"
        "[ok](component.md) [ok too](#title) [web](https://example.com/x.md) [h](component.md#component)\n"
        "`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n[ref]: ../README.md\n")
    assert links(document) == ["../../shared/ARCHITECTURE.md", "missing.md", "#no-such-heading", "component.md",
                               "#title", "https://example.com/x.md", "component.md#component", "../README.md"]
    problems = broken_links(document, root)
    assert [p.split(":")[0] for p in problems] == ["../../shared/ARCHITECTURE.md", "missing.md", "#no-such-heading"]
