"""Web stage: the archive in the browser through Datasette.

``plugin`` is scraper's Datasette plugin (hooks, templates, static files); ``views`` its pages;
``queries`` the read-only SQL they run; ``render`` the HTML word diff (pure); ``serve`` builds
and runs the Datasette instance of ``scraper serve``. Importing this package needs no Datasette:
only ``plugin``, ``views`` and ``serve`` use it.
"""
