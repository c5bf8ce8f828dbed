"""The shared trainer: one loop for every backbone/head/task, with transfer strategies."""
