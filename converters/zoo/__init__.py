"""Small models edgekit trains itself, from data that ships in packages (no downloads)."""
