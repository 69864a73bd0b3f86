"""The checker that keeps the built documentation free of network loads."""

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location(
        "check_offline", DOCS / "check_offline.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MATH = '<p>Accept with <span class="math notranslate nohighlight">\\(a_i\\)</span>.</p>'
LOCAL_RENDERER = '<script async="async" src="../_static/mathjax/tex-chtml.js"></script>'


def page(head="", body=""):
    return f"<html><head>{head}</head><body>{body}</body></html>"


def test_a_good_page_passes(checker):
    html = page(
        '<link rel="stylesheet" href="_static/theme.css">'
        '<script src="_static/documentation_options.js"></script>' + LOCAL_RENDERER,
        MATH + '<a href="https://scikit-learn.org/stable/">scikit-learn</a>'
        '<img src="data:image/png;base64,AAAA">',
    )
    assert checker.check_page(html) == []


@pytest.mark.parametrize(
    "head",
    [
        '<script src="https://code.jquery.com/jquery-3.7.0.js"></script>',
        '<script src="//cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>',
        '<link rel="stylesheet" href="https://cdn.datatables.net/x.css">',
        '<link rel="preload" as="font" href="http://fonts.example.org/a.woff2">',
        '<style>@import url("https://fonts.googleapis.com/css");</style>',
    ],
)
def test_a_network_load_fails(checker, head):
    problems = checker.check_page(page(head + LOCAL_RENDERER, MATH))
    assert len(problems) == 1
    assert problems[0].startswith("loads from the network")


def test_a_math_page_without_the_renderer_fails(checker):
    assert checker.check_page(page(body=MATH)) == [
        "has math but no local renderer (_static/mathjax/)"
    ]


def test_a_math_page_with_a_remote_renderer_fails_twice(checker):
    remote = '<script src="https://cdn.example.org/_static/mathjax/tex-chtml.js">'
    problems = checker.check_page(page(remote + "</script>", MATH))
    assert len(problems) == 2


def test_a_page_without_math_needs_no_renderer(checker):
    assert checker.check_page(page(body="<p>no formulas</p>")) == []


def test_the_site_check_names_pages_and_a_missing_renderer(checker, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(page(LOCAL_RENDERER, MATH))
    (tmp_path / "sub" / "bad.html").write_text(
        page('<script src="https://cdn.example.org/x.js"></script>')
    )
    problems = checker.check_site(tmp_path)
    assert set(problems) == {"sub/bad.html", "_static/mathjax/"}
    assert checker.main([str(tmp_path)]) == 1
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "sub" / "bad.html").write_text(page())
    assert checker.check_site(tmp_path) == {}
    assert checker.main([str(tmp_path)]) == 0
