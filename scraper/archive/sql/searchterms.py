"""Archive core, search terms: how what a user typed splits into words and phrases; pure.

Both backends' full-text search (SQLite's FTS5 MATCH, PostgreSQL's tsquery) read the query by
these patterns, so the same words find the same pages on either.
"""

from __future__ import annotations

import re

#: a double-quoted phrase (the closing quote may be missing) or a bare word
QUERY_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
#: a term counts only when it holds a word character
WORD = re.compile(r"\w", re.UNICODE)
#: a Korean word: searched as a prefix, because particles attach to it
HANGUL = re.compile(r"^[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+$")
