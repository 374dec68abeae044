"""Pure statistics of expert panels: reliability, consensus, rater diagnostics, figures.

Imports only numpy, pandas, scipy, krippendorff and matplotlib (never the app). The
input is a tidy ratings table (see :mod:`analysis.tidy`); :func:`analysis.summary.analyze`
runs everything for one panel and round and returns a
:class:`analysis.results.PanelAnalysis`.
"""
