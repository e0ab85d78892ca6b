"""Tests of optimizers: every method against references, transforms, the driver."""
