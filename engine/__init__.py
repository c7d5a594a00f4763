"""queuetop's job-queue engine: no UI import anywhere in this package."""
