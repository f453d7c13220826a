"""Reports on a scrambled run: an internal one for KSZ engineers and a shareable one for researchers.

- :mod:`~scrambler.reports.internal`: constraint certificate, coverage with input counts, privacy (exact
  matches, rare reproductions, distance to the closest record, anonymeter), fidelity (sdmetrics), provenance.
- :mod:`~scrambler.reports.shareable`: codebook, relations kept by rule and broken on purpose, the label;
  built without the input, and no count below the small-cell threshold.
- :func:`write_reports` writes each as one self-contained HTML page with its JSON beside it.

sdmetrics and anonymeter are imported only when a report is built (see docs/reports.md).
"""

from scrambler.reports.internal import build_internal
from scrambler.reports.render import render
from scrambler.reports.settings import SMALL_CELL, ReportSettings
from scrambler.reports.shareable import build_shareable
from scrambler.reports.write import (
    FOLDER,
    INTERNAL,
    SHAREABLE,
    reports_after_scramble,
    write_report,
    write_reports,
    write_run_reports,
)

__all__ = ["FOLDER", "INTERNAL", "SHAREABLE", "SMALL_CELL", "ReportSettings", "build_internal", "build_shareable",
           "render", "reports_after_scramble", "write_report", "write_reports", "write_run_reports"]
