"""Training data that is not a plugin: dataset repos on a hub (``hf:NS/NAME[@REV]``) and local folders of
parquet or arrow files (``parquet:PATH``, ``arrow:PATH``), read through the ``datasets`` library.

Imports nothing: :mod:`.refs` (names, components, pinning) is torch- and datasets-free and is what the
foundation modules import; :mod:`.loading` reads the data, :mod:`.publishing` pushes a folder as a
dataset repo, :mod:`.export` writes a registered dataset as parquet.
"""
