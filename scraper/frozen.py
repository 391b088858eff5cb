"""Imported last by the helpers' forkserver (:data:`scraper.forkserver.PRELOAD`): its import
freezes the heap the forkserver has just imported.

The ``gc`` documentation's advice for a process that forks without exec: ``gc.freeze()`` right
before ``fork()``, so that the children's collections do not walk (and so copy) the
long-lived objects they inherit. Every helper of a crawl is forked from the forkserver, with
the modules of PRELOAD already loaded; frozen there, they are out of every helper's full
collections, and out of the forkserver's own collections when it exits with the crawl.

Its import is its whole effect: nothing but the forkserver imports this module.
"""

from __future__ import annotations

import gc

gc.freeze()
