"""Where a benchmark's numbers come from: the commit that produced them."""

import subprocess
from pathlib import Path


def git_rev():
    """Short hash of the checked-out commit, or ``"unknown"`` outside a git checkout."""
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"],
                                       cwd=Path(__file__).parent,
                                       stderr=subprocess.DEVNULL).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
