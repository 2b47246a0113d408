"""Writes (once, atomically) a copy of pybullet_data's panda.urdf whose visual meshes are the
collision meshes, so the CPU tiny renderer draws ~2.5k faces instead of ~100k.

Must not import pybullet (paths come from sim.bullet), torch or daml.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from sim.bullet import data_path

CACHE_ENV_VAR = "DAML_SIM_CACHE"
_SOFT_CONTACT_RE = re.compile(r"\s*<(?:stiffness|damping) value=\"[^\"]*\"\s*/>")
_MESH_RE = re.compile(r'filename="package://meshes/(?:visual|collision)/(\w+)\.(?:obj|dae|stl)"')


def cache_dir() -> Path:
    """Where generated assets go: $DAML_SIM_CACHE or ~/.cache/daml-sim."""
    root = os.environ.get(CACHE_ENV_VAR) or os.path.join(Path.home(), ".cache", "daml-sim")
    return Path(root)


def lowpoly_urdf_text(source: str, mesh_dir: str) -> str:
    """Rewrite every visual/collision mesh reference to the absolute collision .obj path and
    drop the fingers' soft-contact stiffness/damping.

    Soft finger contacts let a squeezed object sink a few mm into a finger; with the small
    solver iteration count we run at, such an object then stays stuck to the finger after
    the gripper opens. Rigid contacts release it cleanly.
    """
    text = _MESH_RE.sub(lambda m: f'filename="{mesh_dir}/{m.group(1)}.obj"', source)
    return _SOFT_CONTACT_RE.sub("", text)


def lowpoly_panda_urdf() -> str:
    """Path of the low-poly Panda URDF, generated on first use (atomic write, content-keyed)."""
    panda_dir = Path(data_path()) / "franka_panda"
    source = (panda_dir / "panda.urdf").read_text()
    text = lowpoly_urdf_text(source, str((panda_dir / "meshes" / "collision").resolve()))
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    target = cache_dir() / f"panda_lowpoly_{digest}.urdf"
    if target.exists() and target.read_text() == text:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".panda_", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return str(target)
