"""What runs inside an engine process: claims and settling, workers, the scheduler, maintenance, the log buffer."""
