"""Where and on how many CPU threads torch runs: the --device and --threads of every command.

Must not import sim or cv2.
"""

from __future__ import annotations

import torch

from daml.errors import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without a GPU raises ConfigError; a
    torch.device is taken as given."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} requested but no CUDA device is available; use cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """torch CPU threads for this process (None: leave torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
