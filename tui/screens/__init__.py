"""queuetop's screens: one per module."""
