"""queuetop's widgets: one per module."""
