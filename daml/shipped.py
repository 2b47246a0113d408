"""Where the files shipped inside the package live (daml/pretrained/): models and sample videos,
and which task each shipped model is for.

Paths resolve relative to the installed package, never the working directory. Pure paths and
constants: must not import torch, sim or cv2.
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


# The task each shipped model was meta-trained on, by the SHA-256 of its file: these files were
# written before checkpoints recorded their task (Checkpoint.info["task"], which every newer
# checkpoint carries), and are kept byte for byte since the benchmarks name them by digest.
SHIPPED_TASKS = {
    "712c562210715bcb5d7f9e328fe18e0f2a680c4d03ffa083c2814245a3448669": "pick_place",
    "c635b21b91ea4cee06785c87740723a446a89d8ce919e83424ad5e029e5e6147": "pick_place",  # bc
    "8f117d6e691018669c5a8ada45849f710a961e8f23e98478808f97f5d964499d": "pick_place",  # mil
    "5044961d198709ce15e9690e709dfdffc8965d0c31c5c05b0b086498c37803ef": "push",
    "80f38d36b6cb5b22974b281aad979e2f7794cd6e65ec514f5e84ade684aebc70": "push",  # bc
    "b6776ce6f2aa0e43336f4c41e931da07a7e805b8a977e0142fd2f283ee205189": "push",  # mil
}
