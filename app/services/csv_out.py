"""The one way this app writes CSV: every text cell is neutralised against formula injection.

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP, "CSV Injection"); such text cells get a leading apostrophe.
Numbers stay numbers: an int or float is written as is, and so is text that is nothing but
a plain decimal number (``-0.25``), since a spreadsheet can only read it as that number.

The rules live with the other file formats in :mod:`analysis.formats` (which XLSX files
follow too); that module imports only the standard library when loaded.
"""

from __future__ import annotations

from analysis.formats import csv_cell, neutralise, write_csv

__all__ = ["csv_cell", "neutralise", "write_csv"]
