"""The enterprise carbon inventory report (docs/report.md).

``figures.build(store, site, start, end, rule)`` computes every number once, from the integer hour
masses of the receiver's database; ``html.render`` and ``pdf.render`` format the same blocks
(``document``); ``Report.to_json()`` is the figures of ``cemtool report --json``.
"""
