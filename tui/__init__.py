"""queuetop's Textual operator screens: readers of the engine's API."""
