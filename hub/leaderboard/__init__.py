"""The zoo leaderboard: accuracy x latency per entry and variant, measured on one machine.

``results`` is the table itself (columns, CSV in and out, the Pareto front, picking for a budget) and
imports nothing heavy, so ``hub serve`` and ``hub zoo pick`` read it without torch; ``measure`` times an
export and counts its FLOPs (torch, onnxruntime); ``collect`` is ``hub zoo bench``: run the entries'
jobs (stage reuse makes a re-run cheap), measure, merge, write and publish the CSV.
"""
