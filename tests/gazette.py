"""A small town-news site for crawl tests: articles about a few topics, an index linking
them, and the same URLs behind a consent wall (chrome, no article). Written by hand."""

from __future__ import annotations

from tests.server import LocalServer

TOPICS = ["harbour", "library", "market", "bridge", "school", "orchard"]


def article(topic: str) -> bytes:
    """An article page about ``topic``: a headline and three paragraphs of its own text."""
    paragraphs = [
        f"The {topic} committee met on Tuesday evening to discuss the plans for the coming "
        f"year. Residents filled the hall and asked how the {topic} would change, who would "
        "pay for the work, and when the first results could be seen by everyone in town.",
        f"According to the minutes, the {topic} budget grows by a tenth, most of it for "
        "repairs that were put off during the last two winters. The chair said the delay had "
        "cost more than the repairs themselves would have cost at the time.",
        f"A public meeting about the {topic} is planned for next month, and written comments "
        "can be sent to the town office until then. The committee promised to publish every "
        "comment it receives together with its answer before any contract is signed.",
    ]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>News about the {topic}</title></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/about'>About</a></nav></header>"
        f"<main><article><h1>What is next for the {topic}</h1>{body}</article></main>"
        "<footer>Town Gazette</footer></body></html>"
    ).encode()


def chrome(topic: str) -> bytes:
    """The same URL behind a consent wall: navigation, a cookie notice, a footer, no article."""
    return (
        f"<!doctype html><html><head><title>{topic}</title></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/about'>About</a></nav></header>"
        "<div class='cookie-consent'><p>We use cookies.</p><button>Accept</button></div>"
        "<footer>Town Gazette</footer></body></html>"
    ).encode()


def index(links: list[str], edition: str) -> bytes:
    items = "".join(f"<li><a href='{link}'>{link}</a></li>" for link in links)
    return f"<html><body><h1>Gazette, {edition}</h1><ul>{items}</ul></body></html>".encode()


def serve(server: LocalServer, make_page: object, edition: str) -> dict[str, bytes]:
    """Serve /index.html and one page per topic made by ``make_page``, all marked with
    ``edition`` (so that their bytes change and they are extracted again); return path -> body.
    """
    assert callable(make_page)
    mark = f"<body data-edition='{edition}'>".encode()
    pages = {f"/news/{topic}.html": make_page(topic).replace(b"<body>", mark) for topic in TOPICS}
    pages["/index.html"] = index(list(pages), edition)
    for path, body in pages.items():
        server.route(path, body=body)
    return pages
