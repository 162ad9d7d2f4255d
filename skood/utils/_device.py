"""The ``device`` parameter: which torch devices skood accepts, and why one is refused."""

import re

import torch

_VALID = "'cpu', 'cuda', 'cuda:N' (N a GPU index), 'mps' or 'auto'"


def _mps_available():
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def check_device(device, name="device"):
    """The torch device for a ``device`` parameter, refused with a clear error when the
    name is unknown or the device is not available here.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or ``"auto"`` (the first GPU
        when CUDA is available, else Apple's MPS when available, else the CPU).
    name : str, default="device"
        The parameter's name, for the message.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        An unknown device name, or a device this machine (or this torch build) does
        not have.

    Examples
    --------
    >>> from skood.utils._device import check_device
    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: device='tpu' is not a device skood can use: pass 'cpu', 'cuda', ...
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"{name} must be a str, e.g. 'cpu' or 'cuda'; got {device!r}.")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    match = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", device)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ValueError(
            f"{name}={device!r} is not a device skood can use: pass {_VALID} (a GPU when "
            "one is available, else the CPU)."
        )
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            if torch.version.cuda is None:
                why = (f"this torch build ({torch.__version__}) has no CUDA support; install "
                       "a CUDA build of torch")
            else:
                why = ("no CUDA GPU is visible (torch.cuda.is_available() is False: check the "
                       "driver and CUDA_VISIBLE_DEVICES)")
            raise ValueError(f"{name}={device!r} is not available: {why}, or use "
                             f"{name}='cpu' or {name}='auto'.")
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise ValueError(
                f"{name}={device!r} is not available: {count} CUDA GPU(s) are visible "
                f"(indices 0 to {count - 1})."
            )
    if kind == "mps" and not _mps_available():
        raise ValueError(
            f"{name}={device!r} is not available: Apple's MPS backend needs macOS on Apple "
            f"silicon and a torch build with MPS; use {name}='cpu' or {name}='auto'."
        )
    return torch.device(device)
