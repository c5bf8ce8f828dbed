"""Image datasets: embedded offline defaults and readers for the user's own images."""
