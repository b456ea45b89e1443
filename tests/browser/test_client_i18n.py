"""Client i18n units, run in Chromium on the real modules: plural selection (the CSP-safe
plural-expression parser in i18n.js against Python's gettext for every shipped locale's
Plural-Forms), t()/tn() fallbacks and placeholders, and bidi.js directionOf()."""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from typing import Any

import pytest

from server.i18n.catalogs import client_catalog
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

LOCALES = ["de", "en", "ar", "fa", "fa_AF", "ps", "ru", "uk", "tr", "fr", "ku", "ti"]
NUMBERS = [*range(0, 230), 1000, 1001, 1002, 1003, 1011, 1021, 1100, 1101, 1111, 10_000, 100_002]

PLURAL_INDICES = """
async ({ expr, numbers }) => {
  const i18n = await import("/static/src/i18n/i18n.js");
  const forms = ["0", "1", "2", "3", "4", "5", "6", "7"];
  i18n.setCatalog({ locale: "xx", plural: expr, messages: { "{n} message": forms } });
  return numbers.map((n) => Number(i18n.tn("{n} message", "{n} messages", n)));
}
"""


@pytest.fixture(scope="module")
def client_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """One loaded client for all checks here: each check sets the catalog it needs."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    yield page
    context.close()
    assert not errors, errors


def plural_indices(page: Any, expr: str, numbers: list[int]) -> list[int]:
    return list(page.evaluate(PLURAL_INDICES, {"expr": expr, "numbers": numbers}))


def test_plural_forms_match_gettext_for_every_locale(client_page: Any) -> None:
    expressions = {locale: str(client_catalog(locale)["plural"]) for locale in LOCALES}
    for locale, expr in sorted(expressions.items()):
        expected = [gettext.c2py(expr)(n) for n in NUMBERS]
        assert plural_indices(client_page, expr, NUMBERS) == expected, (locale, expr)


def test_arabic_six_forms_and_east_slavic_three_forms(client_page: Any) -> None:
    arabic = str(client_catalog("ar")["plural"])
    numbers = [0, 1, 2, 3, 10, 11, 99, 100, 101, 102, 103, 111, 1000]
    indices = plural_indices(client_page, arabic, numbers)
    assert sorted(set(indices)) == [0, 1, 2, 3, 4, 5]
    assert indices[:5] == [0, 1, 2, 3, 3]  # zero, one, two, few (3..10)
    assert indices == [gettext.c2py(arabic)(n) for n in numbers]
    # one (1, 21, 121), few (2-4, 22), many (5-20, 25, 111)
    east_slavic = {1: 0, 2: 1, 4: 1, 5: 2, 11: 2, 12: 2, 21: 0, 22: 1, 25: 2, 111: 2, 121: 0}
    for locale in ("ru", "uk"):
        expr = str(client_catalog(locale)["plural"])
        assert plural_indices(client_page, expr, list(east_slavic)) == list(east_slavic.values())


def test_plural_expression_syntax(client_page: Any) -> None:
    cases = {
        "(n != 1)": [1, 0, 1],
        "n > 1": [0, 0, 1],
        "0": [0, 0, 0],
        "!(n == 1)": [1, 0, 1],
        "n==1 || n==2 ? 0 : 1": [1, 0, 0],
        "(n%10==1 && n%100!=11) ? 0 : 1": [1, 0, 1],
        "n == 0 ? 0 : (n == 1 ? 1 : 2)": [0, 1, 2],
        "n ? ": [7, 7, 7],  # broken: the last form, no exception
    }
    for expr, expected in cases.items():
        assert plural_indices(client_page, expr, [0, 1, 2]) == expected, expr


TRANSLATE = """
async () => {
  const i18n = await import("/static/src/i18n/i18n.js");
  i18n.setCatalog({
    locale: "ru",
    plural: "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)",
    messages: {
      "Hello {name}": "Привет, {name}",
      "Empty": "",
      "{n} file": ["{n} файл", "{n} файла", "{n} файлов"],
      "{n} letter": ["{n} буква"],
    },
  });
  return {
    translated: i18n.t("Hello {name}", { name: "Aya" }),
    fallback: i18n.t("Not in the catalog {x}", { x: 1 }),
    empty: i18n.t("Empty"),
    unknownParam: i18n.t("Hello {name}"),
    forms: [1, 3, 5, 21].map((n) => i18n.tn("{n} file", "{n} files", n)),
    clamped: i18n.tn("{n} letter", "{n} letters", 5),
    untranslatedPlural: [1, 2].map((n) => i18n.tn("{n} day", "{n} days", n)),
    locale: i18n.locale(),
  };
}
"""


def test_t_and_tn(client_page: Any) -> None:
    result = client_page.evaluate(TRANSLATE)
    assert result["translated"] == "Привет, Aya"
    assert result["fallback"] == "Not in the catalog 1"
    assert result["empty"] == "Empty"  # an empty msgstr falls back to the source
    assert result["unknownParam"] == "Привет, {name}"
    assert result["forms"] == ["1 файл", "3 файла", "5 файлов", "21 файл"]
    assert result["clamped"] == "5 буква"  # fewer forms than the rule: the last one
    assert result["untranslatedPlural"] == ["1 day", "2 days"]
    assert result["locale"] == "ru"


DIRECTIONS = {
    "مرحبا": "rtl",  # Arabic
    "سلام، چطوری؟": "rtl",  # Persian / Dari
    "ستاسو نوم څه دی؟": "rtl",  # Pashto
    "שלום": "rtl",  # Hebrew
    "ܫܠܡܐ": "rtl",  # Syriac
    "𞤀𞤣𞤤𞤢𞤥": "rtl",  # Adlam (outside the BMP)
    "Hallo": "ltr",
    "Привіт": "ltr",  # Ukrainian
    "Merhaba, nasılsın?": "ltr",
    "ሰላም": "ltr",  # Tigrinya (Ethiopic)
    "नमस्ते": "ltr",  # Devanagari: any other letter is left-to-right
    "你好": "ltr",
    "  123, (!) مرحبا": "rtl",  # the first strong character decides, not digits or punctuation
    "123 Hallo مرحبا": "ltr",
    "«مرحبا» hello": "rtl",
    "🙂 Привет": "ltr",
    "12345": "auto",
    "١٢٣": "auto",  # Arabic-Indic digits are numbers, not strong letters
    "١٢٣ Hallo": "ltr",
    "": "auto",
    "?!": "auto",
}


def test_direction_of(client_page: Any) -> None:
    result = client_page.evaluate(
        """async (texts) => {
          const { directionOf } = await import("/static/src/i18n/bidi.js");
          return texts.map((text) => directionOf(text));
        }""",
        list(DIRECTIONS),
    )
    assert dict(zip(DIRECTIONS, result, strict=True)) == DIRECTIONS
