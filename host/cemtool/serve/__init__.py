"""``cemtool serve``: a local read-only web dashboard of the receiver's database (docs/serve.md).

``views`` computes what is shown (point status, hourly chart, data quality, warnings) from the
site's own modules; ``server`` serves it as a JSON API and a static page (``static/``: plain
HTML, JS and inline SVG, nothing fetched from elsewhere).
"""
