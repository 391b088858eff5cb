"""``python -m scraper.demo``: run the demo."""

from scraper.demo import main

main()
