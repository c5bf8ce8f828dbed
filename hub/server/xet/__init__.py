"""The Xet protocol, server side: the stock ``huggingface_hub`` client with ``hf_xet`` uploads and
downloads through it with no setting. ``hashing`` and ``formats`` implement the public
specification, ``store`` the CAS (xorbs, chunk index, file records; LFS reads of Xet files rebuilt from xorbs), ``tokens`` the
short-lived CAS credentials and signed xorb URLs, ``routes`` the HTTP endpoints."""
