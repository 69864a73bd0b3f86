"""Check that the built HTML site reads right without network.

Two rules, checked on every ``.html`` file under the site folder:

- no page loads a script, stylesheet or other resource from the network: a
  ``<script src=...>``, ``<link href=...>`` (stylesheets, preloads, icons),
  ``<img src=...>`` or ``<iframe src=...>`` whose address starts with a scheme
  (``http:``, ``https:``, ...) or with ``//``. Ordinary ``<a href=...>``
  links to other sites are fine: they are not loaded with the page.
- every page that contains math (``class="math..."`` spans or divs, as Sphinx
  writes them) loads the math renderer from the site itself
  (``_static/mathjax/`` by default).

Usage::

    python docs/check_offline.py [SITE_DIR]

``SITE_DIR`` defaults to ``docs/_build/html``. The exit status is 1 when a
page breaks a rule, and each problem is printed on its own line.
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

DEFAULT_SITE_DIR = Path(__file__).resolve().parent / "_build" / "html"

#: Path fragment of the local MathJax that sphinx-mathjax-offline ships.
RENDERER = "_static/mathjax/"

# Tags whose attribute makes the browser fetch something when the page loads.
_LOADING_ATTRS = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "embed": "src",
    "source": "src",
    "audio": "src",
    "video": "src",
}
_REMOTE = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//)")
_LOCAL_SCHEMES = ("data:", "file:", "blob:", "javascript:")
# Resources loaded from a stylesheet or an inline style.
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?\s*(//|https?:)""", re.I)
_MATH_CLASS = re.compile(r"(^|\s)math(\s|$)")


def _is_remote(url):
    url = url.strip()
    return bool(_REMOTE.match(url)) and not url.lower().startswith(_LOCAL_SCHEMES)


class _PageScanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.remote = []
        self.scripts = []
        self.has_math = False
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = _LOADING_ATTRS.get(tag)
        if name and attrs.get(name) and _is_remote(attrs[name]):
            # A hyperlink-like <link> (rel="canonical", say) is not loaded.
            rel = (attrs.get("rel") or "").lower().split()
            if tag != "link" or not rel or set(rel) & _LOADED_RELS:
                self.remote.append(f"<{tag} {name}={attrs[name]!r}>")
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if _MATH_CLASS.search(attrs.get("class") or ""):
            self.has_math = True
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style and _CSS_IMPORT.search(data):
            self.remote.append("@import of a remote stylesheet")


_LOADED_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "manifest",
}


def check_page(html, renderer=RENDERER):
    """Return the problems of one HTML page, as a list of strings.

    Parameters
    ----------
    html : str
        The page's text.
    renderer : str, default="_static/mathjax/"
        A fragment that the address of the local math renderer's script
        contains.

    Returns
    -------
    problems : list of str
        Empty when the page reads right offline.

    Examples
    --------
    >>> check_page('<script src="_static/app.js"></script>')
    []
    >>> check_page('<script src="https://cdn.example.org/x.js"></script>')
    ["loads from the network: <script src='https://cdn.example.org/x.js'>"]
    """
    scanner = _PageScanner()
    scanner.feed(html)
    scanner.close()
    problems = [f"loads from the network: {item}" for item in scanner.remote]
    if scanner.has_math and not any(
        renderer in src and not _is_remote(src) for src in scanner.scripts
    ):
        problems.append(f"has math but no local renderer ({renderer})")
    return problems


def check_site(site_dir=DEFAULT_SITE_DIR, renderer=RENDERER):
    """Check every page of a built site.

    Parameters
    ----------
    site_dir : str or pathlib.Path, default=docs/_build/html
        The HTML output folder.
    renderer : str, default="_static/mathjax/"
        See :func:`check_page`.

    Returns
    -------
    problems : dict
        Maps the path of each page with a problem, relative to ``site_dir``,
        to its problems. Empty when the whole site reads right offline.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as site:
    ...     _ = (Path(site) / "index.html").write_text("<p>hello</p>")
    ...     check_site(site)
    {}
    """
    site_dir = Path(site_dir)
    pages = sorted(site_dir.glob("**/*.html"))
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {site_dir}")
    problems = {}
    for page in pages:
        found = check_page(page.read_text(encoding="utf-8"), renderer)
        if found:
            problems[page.relative_to(site_dir).as_posix()] = found
    # The pages may name the renderer, yet it must also have been copied.
    renderer_dir = site_dir / renderer
    if not renderer_dir.is_dir() and any(
        renderer in page.read_text(encoding="utf-8") for page in pages
    ):
        problems[renderer] = ["the pages load the renderer, but it is missing"]
    return problems


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    site_dir = Path(argv[0]) if argv else DEFAULT_SITE_DIR
    problems = check_site(site_dir)
    for page, found in problems.items():
        for problem in found:
            print(f"{page}: {problem}")
    n_pages = len(list(site_dir.glob("**/*.html")))
    if problems:
        print(f"{len(problems)} of {n_pages} pages do not read right offline")
        return 1
    print(f"all {n_pages} pages read right offline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
