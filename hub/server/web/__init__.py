"""Server-rendered web pages of ``hub serve``: the repo list with search, a page per repo, sign-in.

``pages``: the handlers; ``render``: card HTML, metrics, variants, the try-it widget's state;
``session``: browser sign-in; ``assets``: ``static/try.js`` and the pinned onnxruntime-web files;
``leaderboard_page``: ``/leaderboard`` (its handler ``leaderboard_page.leaderboard``, routed by app.py) and
``plot``: its SVG scatter plot. Handlers are imported from their modules, not re-exported here: this
``__init__`` stays empty so importing ``web.session`` (context.py does) pulls in no page module.

No build step: Jinja2 templates (autoescaped) in ``templates/``, filled from the same storage the API
reads, complete without JavaScript. The one script, ``static/try.js``, runs the repo's e2e model in
the reader's browser (onnxruntime-web, served by the hub itself; CSP: scripts from 'self' only, and
only on a page that has the widget). ``/{namespace}/{name}`` is the URL ``hub push``/``hub run`` print, so it opens
the repo's page. Private repos show only to a signed-in owner (session cookie, :mod:`.session`).
"""
