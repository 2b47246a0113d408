"""Where the files shipped inside the package live (daml/pretrained/): models and sample videos.

Paths resolve relative to the installed package, never the working directory. Pure paths:
must not import torch, sim or cv2.
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def pretrained_checkpoint(task: str, variant: str = "") -> Path:
    """daml/pretrained/<task>.pt (DAML) or <task>_<variant>.pt (variant "bc" or "mil")."""
    suffix = f"_{variant}" if variant else ""
    return PRETRAINED_DIR / f"{task}{suffix}.pt"


def sample_human_video(task: str) -> Path:
    """daml/pretrained/<task>_human_demo.mp4: the sample human demo `daml demo` adapts on."""
    return PRETRAINED_DIR / f"{task}_human_demo.mp4"


def sample_sidecar(video: str | Path) -> Path:
    """The JSON next to a sample video naming the sim variation it shows (<video>.json)."""
    video = Path(video)
    return video.with_name(video.name + ".json")
