"""What an export wrote: the counts the ``export`` command reports. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExportStats:
    """What an export wrote."""

    snapshots: int = 0  #: JSON Lines written
    responses: int = 0
    requests: int = 0
    revisits: int = 0
    metadata: int = 0  #: metadata records (the 304 answers as received)
    resources: int = 0  #: resource records (each host's robots.txt)
    pages: int = 0  #: entries of a WACZ's pages/pages.jsonl

    @property
    def warc_records(self) -> int:
        """Records in a WARC export, the warcinfo record included."""
        return 1 + self.responses + self.requests + self.revisits + self.metadata + self.resources
