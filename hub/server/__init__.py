"""``hub serve``: a self-hosted, Hugging Face Hub-compatible server for model repositories.

It speaks the subset of the Hub HTTP API that the official ``huggingface_hub`` client uses to
create repos, upload (regular files, classic LFS, and the Xet protocol that ``hf_xet`` speaks:
``xet/``) and download, and stores every repo as a real bare git repository
with git-lfs pointers, so ordinary git tools can read what was published.

Access rules:
  * Tokens are fixed at start: ``token -> username`` (``--token-file`` lines ``token user [org ...]``
    or ``HUB_SERVE_TOKENS="tok1:user1,tok2:user2"``; an entry may be ``sha256:<hex>`` of the token).
    Clients send ``Authorization: Bearer <token>``.
  * Reading public repos needs no token; an unknown token is refused (401) even on reads.
  * Writing needs a token (401 without) and ownership of the namespace (403 otherwise): a user
    owns ``<username>/...`` and the namespaces of the organisations listed after their name in
    the token file. ``allow_any_namespace=True`` (``--allow-any-namespace``) lets every valid token
    write anywhere, for single-user setups.
  * Private repos answer 404 to everyone who may not write to their namespace.

Budgets: a commit body is capped (``--max-commit-bytes``, default 64 MiB: 413 past it), JSON bodies
at 16 MiB and 32 levels of nesting, card YAML as ``cardmeta.py`` says; a full disk answers 507.

Limits: model repos only; no pull requests (``create_pr`` is refused), no pagination (listings come in one page), one server
process per data folder (enforced with a lock file). It binds 127.0.0.1 by default.

Data layout: ``repos/models/{ns}/{name}.git`` (bare repo) + ``{name}.json`` (metadata),
``lfs/objects/ab/cd/<sha256>`` (LFS bytes, shared and deduplicated), ``xet/xorbs`` +
``xet/index.sqlite`` (the Xet CAS; a file uploaded through Xet is stored there only), with
``--storage s3://BUCKET/PREFIX`` the LFS objects and xorbs under the same keys in the bucket
(``objects.py``), ``cache/blobs`` (regular files
materialised for range requests), ``tmp`` and ``lfs/tmp`` (cleared at start).

Use :func:`hub.server.serving.create_app` to get the ASGI app, :func:`~hub.server.serving.serve` to run
it in the foreground, and :func:`~hub.server.serving.start_background` to run it in a thread (tests,
or an embedded server for ``hub push``). This package module imports nothing: the layers below it are
context (``Hub``/``Ctx``) <- routes_*, web/, xet/ <- app (assembles the routes) <- serving.
"""
