"""First-party heads and tasks, registered through the public hooks only."""
