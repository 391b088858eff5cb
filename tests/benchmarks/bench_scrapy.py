"""The peers of make bench-crawl: Scrapy on the benchmark's site, bare or with trafilatura.

Run by bench_crawl.py as ``python -m tests.benchmarks.bench_scrapy BASE_URL --mode bare|trafilatura
--concurrency N [--db PATH]``; prints ``N pages`` on stderr at the end.

The spider does what scraper's crawl of the site does, with the same politeness settings as
the benchmark's config: it starts from the index page and the sitemap, follows every link to
the same host up to depth 5 (Scrapy's own duplicate filter drops URLs seen before), obeys
robots.txt, keeps ``N`` requests in flight (in all and per host), no delay, no HTTP cache, no
AutoThrottle. ``--mode trafilatura`` is the naive build a user would write: the callback calls
``trafilatura.extract`` on each page and an item pipeline stores the text in SQLite, one
INSERT and one commit per page. ``bare`` extracts nothing (the links only).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.utils.sitemap import Sitemap


class SiteSpider(scrapy.Spider):
    name = "bench"

    def __init__(self, base: str, extract: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = base
        self.extract = extract
        self.allowed_domains = [urlsplit(base).hostname or ""]
        self.pages = 0

    async def start(self) -> Any:
        yield scrapy.Request(f"{self.base}/index.html", cb_kwargs={"depth": 0})
        yield scrapy.Request(f"{self.base}/sitemap.xml", callback=self.parse_sitemap)

    def parse_sitemap(self, response: scrapy.http.Response) -> Any:
        for entry in Sitemap(response.body):
            yield response.follow(entry["loc"], cb_kwargs={"depth": 0})

    def parse(self, response: scrapy.http.Response, depth: int = 0) -> Any:
        self.pages += 1
        if self.extract:
            import trafilatura

            yield {"url": response.url, "text": trafilatura.extract(response.text)}
        if depth < 5:
            for href in response.css("a::attr(href)").getall():
                yield response.follow(href, cb_kwargs={"depth": depth + 1})


class SqlitePipeline:
    """Store each item's text in SQLite, the plain way: one INSERT and one commit per page."""

    def open_spider(self, spider: scrapy.Spider) -> None:
        self.conn = sqlite3.connect(spider.settings.get("BENCH_DB"))
        self.conn.execute("CREATE TABLE IF NOT EXISTS pages (url TEXT, text TEXT)")

    def process_item(self, item: dict[str, Any], spider: scrapy.Spider) -> dict[str, Any]:
        self.conn.execute(
            "INSERT INTO pages (url, text) VALUES (?, ?)", (item["url"], item["text"])
        )
        self.conn.commit()
        return item

    def close_spider(self, spider: scrapy.Spider) -> None:
        self.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base")
    parser.add_argument("--mode", choices=("bare", "trafilatura"), default="bare")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", default=":memory:")
    opts = parser.parse_args()
    extract = opts.mode == "trafilatura"
    settings: dict[str, Any] = {
        "CONCURRENT_REQUESTS": opts.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": opts.concurrency,
        "DOWNLOAD_DELAY": 0,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "ROBOTSTXT_OBEY": True,
        "HTTPCACHE_ENABLED": False,
        "AUTOTHROTTLE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "USER_AGENT": "scraper-bench/0.1",
        "BENCH_DB": opts.db,
    }
    if extract:
        settings["ITEM_PIPELINES"] = {f"{__name__}.SqlitePipeline": 300}
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(SiteSpider)
    process.crawl(crawler, base=opts.base, extract=extract)
    process.start()
    spider = crawler.spider
    pages = spider.pages if spider is not None else 0
    print(f"{pages} pages", file=sys.stderr)
    if not pages:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
