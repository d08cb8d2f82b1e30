"""Content-Security-Policy on every page (issue 16): a strict policy, and pages that need no
exception to it (no inline script or style without the request's nonce, no style attributes,
no inline event handlers). The browser tests check the same pages run without a violation."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings

from apps.backtest.reports.html import backtest_report_html

PAGES = ["/", "/portfolio/", "/bots/alpha/", "/research/", "/research/backtests/compare/",
         "/admin/", "/admin/bots/bot/", "/admin/bots/botgrant/add/", "/api/docs/"]  # fmt: skip


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.styles: list[tuple[str | None, str]] = []  # (nonce, text) of inline <style>s
        self.scripts: list[tuple[str | None, str]] = []  # ... and of inline <script>s
        self._in: tuple[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a:
            self.problems.append(f"<{tag} style=...>")
        self.problems += [f"<{tag} {k}=...>" for k in a if k.startswith("on")]
        if tag == "script" and not a.get("src") and a.get("type") != "application/json":
            self._in, self._text = ("script", a.get("nonce")), ""
        elif tag == "style":
            self._in, self._text = ("style", a.get("nonce")), ""

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._in and tag == self._in[0]:
            kind, nonce = self._in
            (self.styles if kind == "style" else self.scripts).append((nonce, self._text))
            self._in = None


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.mark.parametrize("path", PAGES)
def test_page_with_strict_policy_has_no_inline_code_without_nonce(
    admin_client_logged, desk, path
) -> None:
    response = admin_client_logged.get(path)
    assert response.status_code == 200, path
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive]
        assert "'unsafe-eval'" not in policy[directive]
    nonce = next((s[7:-1] for s in policy["script-src"] if s.startswith("'nonce-")), None)
    parser = _Inline()
    parser.feed(response.content.decode())
    assert parser.problems == [], path
    for element_nonce, text in parser.scripts:
        assert nonce is not None and element_nonce == nonce, (path, text[:80])
    for element_nonce, text in parser.styles:
        allowed = nonce is not None and element_nonce == nonce
        assert allowed or _sha(text) in policy["style-src"], (path, text[:80])
    if path == "/api/docs/":  # Swagger UI's setup script and style, with the nonce
        assert parser.scripts and parser.styles


def test_policy_on_json_and_login_answers_too(client, db) -> None:
    for path in ("/admin/login/", "/health/", "/api/schema/"):
        response = client.get(path)
        assert "default-src 'self'" in response["Content-Security-Policy"], path


def test_style_hashes_match_the_inline_styles_they_allow() -> None:
    """The two hashed styles: lightweight-charts' attribution logo, the backtest report's."""
    vendored = next((settings.BASE_DIR / "static/vendor/lightweight-charts").rglob("*.js"))
    found = re.search(r'innerText="(a#tv-attr-logo\{[^"]*)"', vendored.read_text())
    assert found, "the chart library's attribution style changed: update CSP_STYLE_HASHES"
    report = re.search(r"<style>(.*?)</style>", backtest_report_html(results=[], closes={}))
    assert report
    assert {_sha(found.group(1)), _sha(report.group(1))} == set(settings.CSP_STYLE_HASHES)
