"""A generated news site whose pages carry every kind of change-monitoring noise.

Each request of a page renders it anew with a different relative time, view/comment/share
counters, dateline clock and date, a reshuffled "Most read" list, cache-busting query strings
in its links, and other whitespace and Unicode forms of the same characters. A page may flip
between headline variants (an A/B test). Real edits are applied by the test or benchmark
through :class:`NoisySite.edit`. Used by tests/test_noise_crawl.py and ``make bench-noise``.
"""

from __future__ import annotations

import random
import threading
import unicodedata
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.server import LocalServer

PARAGRAPHS = (
    "The city council voted on Tuesday evening to approve the new riverside park after two "
    "years of debate among residents, planners and the owners of the old warehouses.",
    "Construction will cost 2.5 million euros and is expected to start next spring, the mayor "
    "said in a statement, adding that the first section should open within eighteen months.",
    "Opponents argued that the money would be better spent on the bus network, which has lost "
    "passengers since the timetable was cut back during the last budget round.",
    "The plan keeps the historic crane on the quay and adds a playground, a cycle path along "
    "the water and a small café run by a local cooperative that trains young cooks.",
)
HEADLINES = ("Council approves riverside park", "Riverside park gets the green light")


@dataclass
class Page:
    """One generated page: its article, and whether its headline is A/B tested."""

    number: int
    paragraphs: list[str]
    headline: str
    ab_test: bool = False
    requests: int = 0


@dataclass
class NoisySite:
    """The pages of the site, served by a :class:`LocalServer` under ``/news/<n>.html``."""

    pages: dict[int, Page] = field(default_factory=dict)
    seed: int = 1
    base: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, count: int, *, ab_tests: int = 0, seed: int = 1) -> NoisySite:
        site = cls(seed=seed)
        for n in range(1, count + 1):
            # every paragraph differs from page to page: lines that recur on every page of a
            # site are boilerplate, which the crawl learns and drops
            districts = ("north", "south", "harbour", "old town")
            paras = [f"In the {districts[i]} district {n}: {p}" for i, p in enumerate(PARAGRAPHS)]
            site.pages[n] = Page(n, paras, f"{HEADLINES[0]} ({n})", ab_test=n <= ab_tests)
        return site

    def path(self, n: int) -> str:
        return f"/news/{n}.html"

    def serve(self, server: LocalServer) -> None:
        """Route every page and an index linking to them on ``server``."""
        self.base = server.base
        for n in self.pages:
            server.route(self.path(n), handler=self._handler(n))
        links = "".join(f'<li><a href="{self.path(n)}">Story {n}</a></li>' for n in self.pages)
        server.route("/news/", f"<html><body><ul>{links}</ul></body></html>")

    def edit(self, n: int, kind: str) -> None:
        """A real edit of page ``n``: sentence, paragraph, correction, number or headline."""
        page = self.pages[n]
        with self._lock:
            if kind == "sentence":
                page.paragraphs[2] = page.paragraphs[2].replace(
                    "Opponents argued", "Several opposition members argued in a long session"
                )
            elif kind == "paragraph":
                page.paragraphs.append(
                    "A public meeting about the design will be held in the town hall, where "
                    "residents can see the drawings and leave their comments for the architects."
                )
            elif kind == "correction":
                page.paragraphs.append(
                    "Correction: an earlier version of this article gave the wrong cost."
                )
            elif kind == "number":
                page.paragraphs[1] = page.paragraphs[1].replace("2.5 million", "3.1 million")
            elif kind == "headline":
                page.headline = f"Park plan approved after two-year fight ({n})"
                page.ab_test = False
            else:
                raise ValueError(f"unknown edit {kind!r}")

    def render(self, n: int) -> str:
        """Page ``n`` as its next request sees it (noise differs on every call)."""
        with self._lock:
            page = self.pages[n]
            page.requests += 1
            rng = random.Random(f"{self.seed}-{n}-{page.requests}")
            headline = page.headline
            if page.ab_test and rng.random() < 0.5:
                headline = f"{HEADLINES[1]} ({n})"
            paragraphs = list(page.paragraphs)
        minutes = rng.randint(1, 59)
        views = f"{rng.randint(1000, 99999):,}"
        clock = f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(['AM', 'PM'])}"
        date = f"{rng.choice(['Mon', 'Tue', 'Wed'])}, {rng.randint(1, 28)} March 2026"
        space = rng.choice([" ", "\u00a0", "  "])
        quote = rng.choice(["'", "\u2019"])
        form = rng.choice(["NFC", "NFD"])
        body = "".join(
            f"<p>{unicodedata.normalize(form, p).replace(' ', space, 3)}</p>" for p in paragraphs
        )
        body = body.replace("'", quote)
        most_read = sorted(self.pages)[:5]
        rng.shuffle(most_read)
        bust = rng.randint(10**6, 10**7)
        items = "".join(
            f'<li><a href="/news/{k}.html">Story {k} about the town</a></li>' for k in most_read
        )
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{headline}</title>
<link rel="stylesheet" href="/static/site.css?cb={bust}">
<link rel="canonical" href="{self.base}/news/{n}.html"></head>
<body>
<nav><a href="/news/">News</a></nav>
<main><article>
<h1>{headline}</h1>
<p class="byline">By Ana Ruiz · Updated {minutes} minutes ago · {views} views</p>
<p class="dateline">Posted {clock}, {date}</p>
{body}
<p>See the <a href="https://maps.example.org/plan?cb={bust}">map of the plan</a>.</p>
<p>{rng.randint(2, 400)} comments · Shares: {rng.randint(2, 900)}</p>
<h2>Most read</h2>
<ul>{items}</ul>
</article></main>
<footer>© 2026 Town News · It is {clock} now</footer>
</body></html>"""

    def _handler(self, n: int):  # type: ignore[no-untyped-def]
        def handle(request: BaseHTTPRequestHandler) -> None:
            body = self.render(n).encode("utf-8")
            request.send_response(200)
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(body)

        return handle
