"""Exceptions and warnings raised by skood."""


class TrainingDivergedError(RuntimeError):
    """A flow's training loss went non-finite and did not recover."""


class InconsistentVersionWarning(UserWarning):
    """A model is loaded with versions of skood, torch or scikit-learn other than those
    that saved it (:func:`skood.load`, pickle, joblib).

    Attributes
    ----------
    saved : dict
        Library name -> version that saved the model, for the libraries that differ.
    current : dict
        Library name -> version loading it.
    """

    def __init__(self, message, saved=None, current=None):
        super().__init__(message)
        self.saved = dict(saved or {})
        self.current = dict(current or {})
