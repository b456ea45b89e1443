"""The start page in every shipped locale: lang/dir, nothing left untranslated, axe-core clean;
plus layout at 320 px (no horizontal scroll, 44 px targets, RTL mirroring), skip link,
focus on route change and visible focus.

"Untranslated" is decided against the catalogs, not against a list of English words: the
source strings (msgids) are extracted from the code exactly like `make i18n` does, the
translations are read from `locales/<code>/LC_MESSAGES/messages.po`, and every string the page
shows (text nodes, aria-label/title/placeholder/alt, the document title, the <noscript> text)
must equal a translation of that locale (placeholders like {n} match anything). In a
non-English locale a string that equals an English msgid but is no translation is reported as
untranslated; a string that is neither is reported as not coming from the catalog (a literal
nobody marked with t()/_()). The only exceptions are marked up as such in the page: text
inside translate="no" (the name "jmdchat") and text with its own lang attribute (each
language named in itself in the picker); both are checked against exactly those names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

from tests.conftest import ROOT, LiveServer, axe_source, screenshot_path

pytestmark = pytest.mark.browser

LOCALES = ["de", "en", "ar", "fa", "fa_AF", "ps", "ru", "uk", "tr", "fr", "ku", "ti"]
RTL = {"ar", "fa", "fa_AF", "ps"}
SCREENSHOTS = {"de", "ar", "uk"}
PROPER_NAMES = {"jmdchat"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# The same keywords as `make i18n` (pybabel extract -k t -k tn:1,2 -k _).
KEYWORDS = {**DEFAULT_KEYWORDS, "t": None, "tn": (1, 2), "_": None}


# --- catalogs ----------------------------------------------------------------------------


def _pattern(message: str) -> re.Pattern[str]:
    """A msgid/msgstr as a full-match regex: `{name}` placeholders match any text."""
    parts = re.split(r"\{\w+\}", message)
    return re.compile(".+?".join(re.escape(part) for part in parts), re.DOTALL)


def _norm(text: str) -> str:
    return " ".join(text.split())


@cache
def source_messages() -> tuple[re.Pattern[str], ...]:
    """Every msgid marked in server/ and client/src/ (what `make i18n` would extract now)."""
    found: set[str] = set()
    for method, pattern in (("python", "server/**/*.py"), ("javascript", "client/src/**/*.js")):
        for path in sorted(ROOT.glob(pattern)):
            for _line, message, _comments, _context in extract_from_file(
                method, path, keywords=KEYWORDS
            ):
                forms = [message] if isinstance(message, str) else list(message)
                found.update(_norm(form) for form in forms if form)
    return tuple(_pattern(message) for message in sorted(found))


@cache
def translations(locale: str) -> tuple[re.Pattern[str], ...]:
    """Every non-empty, non-fuzzy msgstr (all plural forms) of the locale's catalog."""
    path = ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    found: set[str] = set()
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        found.update(_norm(form) for form in forms if form)
    return tuple(_pattern(text) for text in sorted(found))


def _matches(text: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(pattern.fullmatch(text) for pattern in patterns)


def translation_problems(locale: str, strings: list[dict[str, str]]) -> list[str]:
    """The strings on the page that are not a translation from `locale`'s catalog."""
    problems = []
    for item in strings:
        text = _norm(item["text"])
        if not text or _matches(text, translations(locale)):
            continue
        is_source = _matches(text, source_messages())
        if locale == "en" and is_source:
            continue  # English is the source language: the msgid is the text.
        what = "untranslated (English source string)" if is_source else "not from the catalog"
        problems.append(f"{what}: {text!r} in {item['where']}")
    return problems


# --- the page ----------------------------------------------------------------------------

# Every string the page presents to people, sighted or not. Text inside translate="no" or
# inside an element with its own lang attribute is returned separately, with the reason.
COLLECT_STRINGS = """
() => {
  const html = document.documentElement;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.classList.length ? "." + [...el.classList].join(".") : "");
  const exemption = (el) => {
    if (el.closest("[translate=no]")) return "name";
    const own = el.closest("[lang]");
    if (own && own !== html) return "language";
    return "";
  };
  const strings = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    const text = node.data.replace(/\\s+/g, " ").trim();
    if (!text || !el || el.closest("script, style, template, noscript")) continue;
    strings.push({ text, where: describe(el), exempt: exemption(el) });
  }
  const attributes = ["aria-label", "title", "placeholder", "alt", "aria-placeholder",
    "aria-roledescription", "aria-valuetext"];
  for (const el of document.body.querySelectorAll("*")) {
    for (const name of attributes) {
      const value = el.getAttribute(name);
      if (!value || !value.trim()) continue;
      strings.push({ text: value.trim(), where: `${describe(el)}[${name}]`, exempt: "" });
    }
  }
  for (const part of document.title.split(" · ")) {
    const text = part.trim();
    if (text && text !== "jmdchat") strings.push({ text, where: "<title>", exempt: "" });
  }
  return strings;
}
"""

RUN_AXE = """
async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}
"""


def open_start_page(browser: Any, live_server: LiveServer, locale: str, **options: Any) -> Any:
    context = browser.new_context(
        **{"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, **options}
    )
    context.add_cookies([{"name": "jmdchat_locale", "value": locale, "url": live_server.url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    return page


@pytest.fixture(scope="module", params=LOCALES)
def start_page(
    request: pytest.FixtureRequest, browser: Any, live_server: LiveServer
) -> Iterator[Any]:
    """The start page in one locale, loaded once for the tests below."""
    page = open_start_page(browser, live_server, request.param)
    page.locale = request.param
    yield page
    page.context.close()
    assert not page.errors, page.errors


def test_lang_and_dir(start_page: Any) -> None:
    locale = start_page.locale
    html = start_page.locator("html")
    assert html.get_attribute("lang") == locale.replace("_", "-")  # BCP 47: fa_AF → fa-AF
    assert html.get_attribute("dir") == ("rtl" if locale in RTL else "ltr")
    # The layout follows: the computed direction, and the picker shows this language.
    direction = start_page.evaluate("getComputedStyle(document.body).direction")
    assert direction == html.get_attribute("dir")
    assert start_page.locator("#language-picker").input_value() == locale
    # The page is the start page: a heading, start and log-in entries, the quick exit, counsellors.
    assert start_page.locator("main h1").count() == 1
    for href in ("#/register", "#/login", "#/counsellor"):
        assert start_page.locator(f"main a[href='{href}']").is_visible()
    assert start_page.locator("#quick-exit").is_visible()
    if locale in SCREENSHOTS:
        start_page.screenshot(path=str(screenshot_path(f"start-{locale}.png")), full_page=True)
    assert not start_page.errors


def test_language_picker_names_each_language_in_itself(start_page: Any) -> None:
    options = start_page.eval_on_selector_all(
        "#language-picker option", "els => els.map(o => [o.value, o.lang, o.dir, o.textContent])"
    )
    assert [code for code, *_ in options] == LOCALES
    names = {code: name for code, _lang, _dir, name in options}
    assert names["de"] == "Deutsch" and names["ar"] == "العربية" and names["uk"] == "Українська"
    for code, lang, direction, _name in options:
        assert lang == code.replace("_", "-")
        assert direction == ("rtl" if code in RTL else "ltr")


def test_no_string_is_left_untranslated(start_page: Any, live_server: LiveServer) -> None:
    locale = start_page.locale
    strings = start_page.evaluate(COLLECT_STRINGS)
    language_names = set(start_page.evaluate("window.jmdchat.boot.locales.map((l) => l.name)"))
    exempt = {s["text"] for s in strings if s["exempt"] == "name"}
    autonyms = {s["text"] for s in strings if s["exempt"] == "language"}
    assert exempt <= PROPER_NAMES, f"translate=no on more than names: {exempt - PROPER_NAMES}"
    assert autonyms <= language_names, f"lang-marked text that is no language name: {autonyms}"
    checked = [s for s in strings if not s["exempt"]]
    # The <noscript> text is rendered by the server but removed from the DOM by the client.
    html = start_page.context.request.get(live_server.url + "/").text()
    noscript = re.search(r"<noscript>(.*?)</noscript>", html, re.DOTALL)
    assert noscript
    checked.append({"text": re.sub(r"<[^>]+>", " ", noscript.group(1)), "where": "<noscript>"})
    assert len(checked) >= 10  # the collector really sees the page
    problems = translation_problems(locale, checked)
    assert not problems, (
        f"{len(problems)} strings on the {locale} start page are not translations from its "
        f"catalog (run `make i18n`, then translate locales/{locale}/LC_MESSAGES/messages.po):\n"
        + "\n".join(problems)
    )


def test_axe_finds_no_violations(start_page: Any) -> None:
    start_page.evaluate(axe_source())
    violations = start_page.evaluate(RUN_AXE, AXE_TAGS)
    assert violations == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )


# --- layout, keyboard and focus ----------------------------------------------------------

LAYOUT = """
() => {
  const root = document.scrollingElement;
  const small = [];
  const controls = "a[href], button, select, input, textarea, [tabindex='0']";
  for (const el of document.querySelectorAll(controls)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.classList.contains("skip-link")) continue;
    if (box.width >= 44 && box.height >= 44) continue;
    small.push(`${el.outerHTML.slice(0, 80)} ${box.width}x${box.height}`);
  }
  const box = (sel) => document.querySelector(sel).getBoundingClientRect().toJSON();
  return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, small,
           brand: box(".brand"), exit: box("#quick-exit") };
}
"""


def test_320px_no_horizontal_scroll_targets_and_mirroring(start_page: Any) -> None:
    """WCAG reflow (320 CSS px, i.e. 200 % zoom of a 640 px window) in every locale."""
    start_page.set_viewport_size({"width": 320, "height": 640})
    try:
        layout = start_page.evaluate(LAYOUT)
    finally:
        start_page.set_viewport_size({"width": 390, "height": 844})
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["small"] == [], "touch targets below 44 px"
    # Quick exit in the first screen, at the inline end: right in LTR, left in RTL.
    assert layout["exit"]["bottom"] <= 100
    if start_page.locale in RTL:
        assert layout["exit"]["right"] < layout["brand"]["left"]
    else:
        assert layout["brand"]["right"] < layout["exit"]["left"]


def test_skip_link_moves_focus_to_main(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    box = skip.bounding_box()
    assert box and box["y"] >= 0 and skip.is_visible()  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # The router did not take "#main" for a route: still the start page.
    assert page.locator("main a[href='#/register']").is_visible()


def test_route_change_focuses_heading_and_keeps_one_history_entry(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    entries = page.evaluate("history.length")
    page.locator("footer a[href='#/about']").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/about")
    page.wait_for_function("() => document.activeElement.tagName === 'H1'")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == page.locator("main h1").text_content()
    assert page.title().endswith("· jmdchat")
    # The about page still credits GeoNames under CC BY 4.0.
    assert "GeoNames" in page.locator("main").text_content()
    assert "CC BY 4.0" in page.locator("main").text_content()
    # Views replace jmdchat's single history entry (so the quick exit can erase it).
    assert page.evaluate("history.length") == entries


def test_focus_is_visible(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    for selector in ("#quick-exit", "main a[href='#/register']", "#language-picker"):
        page.locator(selector).focus()
        page.keyboard.press("Shift+Tab")  # keyboard focus, so :focus-visible applies
        page.keyboard.press("Tab")
        style = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
        )
        assert page.evaluate(f"document.activeElement === document.querySelector({selector!r})")
        assert style[0] != "none" and style[1] >= 2, (selector, style)


@pytest.mark.parametrize(
    "stylesheet", sorted(p.name for p in (ROOT / "client" / "css").glob("*.css"))
)
def test_css_uses_logical_properties_only(stylesheet: str) -> None:
    css = Path(ROOT / "client" / "css" / stylesheet).read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"@media[^{]*", "@media ", css)  # media features like (min-width: 30rem) are fine
    physical = re.findall(
        r"(?<![\w-])((?:margin|padding|border)-(?:left|right|top|bottom)[\w-]*|(?:left|right|top|bottom)\s*:"
        r"|text-align\s*:\s*(?:left|right)|float\s*:\s*(?:left|right)|clear\s*:\s*(?:left|right)"
        r"|border-(?:top|bottom)-(?:left|right)-radius|(?:min-|max-)?(?:width|height)\s*:)",
        css,
    )
    assert physical == [], f"use logical properties (inline/block) instead of {physical}"
