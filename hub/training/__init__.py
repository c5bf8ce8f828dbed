"""The shared trainer: one loop for every backbone/head/task, with transfer strategies.

The package is ``hub.training`` (not ``hub.train``): ``hub.train`` is the top-level function.
"""
