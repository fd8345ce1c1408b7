"""Training: the towers and train op, the epoch loop, losses, schedules, checkpoints, triplets, curves."""
