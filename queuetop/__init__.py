"""queuetop: a local job-queue monitor with its queue engine inside."""
