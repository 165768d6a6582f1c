"""A Sphinx extension the book loads (``book/_config.yml``): each page lists a
script once.

Jupyter Book 1.x pages came out with two copies of sphinx-thebe's inline
configuration (``const THEBE_JS_URL = ...``); the second ``const`` is a
SyntaxError on every page's console. The handler drops any script whose file and
attributes (an inline one: its body) a page already lists.
"""

from __future__ import annotations


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # An inline script is filed under None by one route and "" by the other.
    return (str(getattr(script, "filename", script) or ""),
            tuple(sorted((k, str(v)) for k, v in attributes.items())))


def unique_scripts(scripts: list) -> list:
    """``scripts`` in order, later copies of the same script dropped."""
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = unique_scripts(list(context["script_files"]))


def setup(app):
    # After the other extensions have added their scripts to the page.
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
