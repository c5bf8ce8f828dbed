"""Server-rendered web pages of ``hub serve``: the repo list with search, a page per repo, sign-in.

``pages``: the handlers; ``render``: card HTML, metrics, variants; ``session``: browser sign-in.

No JavaScript, no build step: Jinja2 templates (autoescaped) in ``templates/``, filled from the same
storage the API reads. ``/{namespace}/{name}`` is the URL ``hub push``/``hub run`` print, so it opens
the repo's page. Private repos show only to a signed-in owner (session cookie, :mod:`.session`).
"""
