"""Records, states, change topics, errors and the clock: the bottom layer, importing nothing of queuetop's above it."""
