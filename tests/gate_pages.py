"""Hand-written pages for the admission gate's tests and ``make stress``: one site template
(a long nav, a footer of several paragraphs) around articles and around block pages.

Every page is written here by hand; nothing is produced by the code under test.
"""

from __future__ import annotations

import html

SITE = "Harbour Gazette"

_NAV_ITEMS = (
    "Home",
    "World",
    "Politics",
    "Business",
    "Markets",
    "Technology",
    "Science",
    "Health",
    "Climate",
    "Sport",
    "Football",
    "Cricket",
    "Culture",
    "Books",
    "Music",
    "Film",
    "Television",
    "Travel",
    "Food",
    "Opinion",
    "Letters",
    "Obituaries",
    "Weather",
    "Puzzles",
    "Podcasts",
    "Newsletters",
    "Events",
    "Jobs",
    "Archive",
    "About us",
)

_FOOTER = """
<footer class="site-footer">
  <div class="footer-about">
    <h4>About the Harbour Gazette</h4>
    <p>The Harbour Gazette has covered the coast, its towns and its people since 1887. We are an
    independent newsroom funded by our readers, and we publish corrections openly on our
    corrections page. Our journalists follow the editorial code published on this site, and our
    readers' editor answers complaints within five working days.</p>
    <p>Contact the newsroom with tips and corrections, or write to the letters desk. Our offices
    are open from nine to five on weekdays, and the switchboard answers calls at any hour for
    urgent matters concerning published articles.</p>
  </div>
  <ul class="footer-links">
    <li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>
    <li><a href="/careers">Careers</a></li><li><a href="/advertise">Advertise with us</a></li>
    <li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li>
    <li><a href="/cookies">Cookie settings</a></li>
    <li><a href="/accessibility">Accessibility</a></li>
    <li><a href="/code">Editorial code</a></li><li><a href="/corrections">Corrections</a></li>
  </ul>
  <div class="footer-sections">
    <p>News: world, politics, business, markets, technology, science, health and climate, with
    live coverage of the council chamber, the magistrates' court and the harbour board.</p>
    <p>Sport: football, cricket, rugby, rowing and sailing, with results from the coastal
    leagues every Saturday evening and the regatta tables every week of the summer season.</p>
    <p>Culture: books, music, film, television, theatre and the arts, with listings for the
    pier pavilion, the old corn exchange and the festival marquee on the green.</p>
  </div>
  <p class="legal">Copyright 2026 Harbour Gazette Media Ltd. Registered in the harbour district,
  company number 00012345. All rights reserved. Reproduction of any part of this site without
  written permission is forbidden, except for short quotations with attribution.</p>
</footer>
"""


_MOST_READ = (
    "Storm closes the coast road for a second night",
    "Harbour master retires after forty years on the quay",
    "Fish market roof to carry the town's largest solar array",
    "School choir wins national competition with sea shanties",
    "Council publishes plan for new cycle lanes along the front",
    "Lifeboat crew rescues two walkers cut off by the tide",
    "Bakery on Quay Street celebrates its hundredth birthday",
    "Ferry timetable changes for the summer festival season",
)


def _most_read() -> str:
    items = "".join(f'<li><a href="/story/{i}">{t}</a></li>' for i, t in enumerate(_MOST_READ))
    return f'<aside class="most-read"><h3>Most read</h3><ol>{items}</ol></aside>'


def _nav() -> str:
    items = "".join(
        f'<li><a href="/{name.lower().replace(" ", "-")}">{name}</a></li>' for name in _NAV_ITEMS
    )
    return (
        '<header class="masthead"><a class="logo" href="/">Harbour Gazette</a>'
        '<form class="search"><input name="q" placeholder="Search the Gazette"></form></header>'
        f'<nav class="main-nav"><ul>{items}</ul></nav>'
        '<nav class="sub-nav"><ul><li><a href="/latest">Latest</a></li>'
        '<li><a href="/most-read">Most read</a></li><li><a href="/live">Live</a></li>'
        '<li><a href="/subscribe">Subscribe</a></li><li><a href="/sign-in">Sign in</a></li>'
        "</ul></nav>"
    )


def page(title: str, body: str, *, head: str = "", close: bool = True) -> str:
    """The site template around ``body`` (``close=False`` leaves out ``</body></html>``)."""
    end = "</body></html>" if close else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head}</head><body>{_nav()}"
        f'<main id="content">{body}</main>{_most_read()}{_FOOTER}'
        f'<aside class="promo"><p>Get the Gazette every morning: sign up to our newsletter.</p>'
        f"</aside>{end}"
    )


#: the paragraphs of an ordinary article (about 450 words)
LIGHTHOUSE = (
    "For one hundred and twelve years the lamp on Gull Point was tended by a keeper who climbed "
    "the spiral stair twice a night to check the lamp, wind the clockwork and polish the lens. "
    "The last keeper, Margaret Tallis, left the tower in 1998 when the light was automated, but "
    "she still walks the headland every morning with her dog.",
    "The lighthouse is now owned by a trust of volunteers who raised the money to repair its "
    "lantern room after the storms of the winter before last. The copper dome had split along "
    "two seams, and rain had begun to reach the brass mechanism beneath it.",
    "Restoration took fourteen months. A specialist foundry cast new panels for the dome, and "
    "two glaziers spent the summer replacing the cracked storm panes one at a time, working "
    "from a scaffold that swayed whenever the wind came round to the south west.",
    "Visitors can climb the tower on weekends from April to October. The trust asks for a "
    "small donation and warns that the stair has one hundred and fifty seven steps, with a "
    "single landing halfway up where the keepers once kept their oil and spare wicks.",
    "Inside the lantern room the original Fresnel lens still turns, though an electric motor "
    "now does the work the clockwork once did. The trust has kept the old weights and the "
    "winding handle, and on open days a volunteer demonstrates how the mechanism was wound.",
    "Tallis says the quiet of the tower at night is what she misses most. The sea sounded "
    "different from up there, she recalls, and on clear nights she could count the lights of "
    "eleven other stations along the coast, each with its own pattern of flashes.",
    "The trust now hopes to open the keeper's cottage as a small museum, with the logbooks "
    "that record every ship sighted, every storm and every visit by the inspectors who came "
    "each spring to check that the brass was polished and the glass was clean.",
    "Fundraising for the cottage begins next month with a lantern walk along the headland, "
    "led by Tallis herself, who says she will tell the stories the logbooks leave out.",
)

#: a rewrite of another subject altogether (a real change of the page: about 330 words)
FERRY = (
    "The harbour ferry will run on electric power from next spring, the council confirmed on "
    "Tuesday, after a year of trials with a battery vessel borrowed from a northern operator. "
    "Commuters who cross the estuary each morning welcomed the quieter crossing.",
    "The new vessel carries ninety passengers and twenty bicycles, and charges at the quay "
    "during the ten minute turnaround. Engineers installed a charging mast on the pier last "
    "autumn, drawing power from the solar array on the roof of the old fish market.",
    "Councillors approved the purchase after a report found that maintenance costs would fall "
    "by almost half compared with the diesel boats, which are now more than thirty years old "
    "and need new engines. The older boats will be sold to a heritage society upriver.",
    "Timetables will not change at first, but the operator expects to add evening sailings "
    "during the summer festival season, when queues at the slipway regularly stretch back "
    "along the promenade past the bandstand and the aquarium.",
    "Fishermen who moor beside the ferry berth asked the council to lower the speed limit in "
    "the inner harbour, saying the wash from the trial vessel rocked their boats. The "
    "operator agreed to reduce speed inside the breakwater while skippers learn the new hull.",
    "A public naming competition for the vessel closes at the end of the month. Entries so "
    "far include the names of two former harbour masters, a famous local swimmer and, "
    "inevitably, several puns about batteries that the judges have promised to consider.",
)


def article(
    title: str = "The keeper of Gull Point", paragraphs: tuple[str, ...] = LIGHTHOUSE
) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return page(
        f"{title} | {SITE}",
        f'<article><h1>{html.escape(title)}</h1><p class="byline">By Ann Reyes</p>{body}</article>',
        head=f'<meta property="og:title" content="{html.escape(title)}">',
    )


def challenge() -> str:
    """A bot check whose inline script weighs 300 KB."""
    script = "var c=[" + ",".join(f'"{i:06x}"' for i in range(33_000)) + "];"
    return page(
        "Just a moment...",
        "<h1>Checking your browser before accessing the site</h1>"
        "<p>This process is automatic. Your browser will redirect to your requested content "
        "shortly.</p><p>Please allow up to 5 seconds.</p>"
        f"<script>{script}</script>",
    )


def access_denied() -> str:
    """ "Access denied" inside the site's normal nav and footer."""
    return page(
        f"{SITE}",
        "<h1>Access denied</h1><p>You don't have permission to access this page on this "
        "server.</p><p>Reference #18.4f2a1b2c.1764590000.2c9e</p>",
    )


def security_check() -> str:
    return page(
        f"{SITE} - Security Check",
        "<h2>One more step</h2><p>Please complete the security check to continue to the site.</p>",
    )


def soft_404() -> str:
    return page(
        f"Page not found | {SITE}",
        "<h1>Sorry, we couldn't find that page</h1><p>The page you are looking for may have "
        "been moved or deleted. Try the search box above or start again from our home page.</p>",
    )


def maintenance() -> str:
    return page(
        f"{SITE}",
        "<h1>We'll be back soon</h1><p>The site is down for maintenance while we upgrade our "
        "systems. Thank you for your patience.</p>",
    )


def paywall() -> str:
    return page(
        f"The keeper of Gull Point | {SITE}",
        "<article><h1>The keeper of Gull Point</h1><p>For one hundred and twelve years the "
        "lamp on Gull Point was tended by a keeper who climbed the spiral stair.</p>"
        "<div class='paywall'><h2>Subscribe to continue reading</h2><p>Already a subscriber? "
        "Sign in.</p></div></article>",
    )


def mentions_access_denied() -> str:
    """A real article that talks about "access denied" and "404" pages: never a block page."""
    return article(
        "Why the council website said access denied",
        (
            "Residents trying to pay their parking fines on Monday were met with an access "
            "denied message, and some saw a 404 page not found error instead of the payment "
            "form. The council said the fault lay with a supplier's server, not its own.",
            *LIGHTHOUSE[1:6],
        ),
    )


#: the block pages, by name (for parametrized tests and the stress part)
BLOCK_PAGES = {
    "challenge-300kb-script": challenge,
    "access-denied-in-template": access_denied,
    "security-check-title": security_check,
    "soft-404": soft_404,
    "maintenance": maintenance,
    "paywall": paywall,
}
