"""Building blocks of the world generator (see source_servers/generator.py)."""
