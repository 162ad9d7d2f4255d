"""Exceptions raised by skood."""


class TrainingDivergedError(RuntimeError):
    """A flow's training loss went non-finite and did not recover."""
