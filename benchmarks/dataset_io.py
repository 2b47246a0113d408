"""Episode storage: bytes per episode and read time, compressed npz vs the alternatives.

Compares, on real episodes of a collected dataset: the format daml uses (np.savez_compressed),
uncompressed npz, and the frames as lossless video (FFV1 in .mkv, when this OpenCV build can
write it) plus the small arrays in npz.

    python benchmarks/dataset_io.py --data data/pick_place --episodes 50
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np

from daml.cli import run_reporting_errors
from daml.commands import count as count_type
from daml.data import DemoDataset, load_episode


def _npz_bytes(episode, compressed: bool) -> bytes:
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(
        buffer,
        robot_frames=episode.robot_frames,
        robot_states=episode.robot_states,
        robot_actions=episode.robot_actions,
        human_frames=episode.human_frames,
    )
    return buffer.getvalue()


def _ffv1_size_and_read_s(frames: np.ndarray, directory: Path) -> tuple[int, float] | None:
    import cv2

    path = directory / "frames.mkv"
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (width, height))
    if not writer.isOpened():
        return None
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    start = time.perf_counter()
    capture = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    capture.release()
    seconds = time.perf_counter() - start
    if len(decoded) != len(frames) or not np.array_equal(np.stack(decoded)[:, :, :, ::-1], frames):
        return None  # not lossless in this build
    return path.stat().st_size, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--episodes", type=count_type, default=50)
    args = parser.parse_args(argv)
    dataset = DemoDataset(args.data)
    count = min(args.episodes, len(dataset))
    sizes = {"npz compressed (daml)": 0, "npz uncompressed": 0, "FFV1 video + npz arrays": 0}
    reads = {key: 0.0 for key in sizes}
    ffv1_ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(count):
            start = time.perf_counter()
            episode = load_episode(dataset.paths[index])
            reads["npz compressed (daml)"] += time.perf_counter() - start
            sizes["npz compressed (daml)"] += dataset.paths[index].stat().st_size
            raw = _npz_bytes(episode, compressed=False)
            sizes["npz uncompressed"] += len(raw)
            start = time.perf_counter()
            with np.load(io.BytesIO(raw)) as archive:
                _ = [archive[key] for key in archive.files]
            reads["npz uncompressed"] += time.perf_counter() - start
            total_size, total_read = 0, 0.0
            for frames in (episode.robot_frames, episode.human_frames):
                result = _ffv1_size_and_read_s(frames, Path(tmp))
                if result is None:
                    ffv1_ok = False
                    break
                total_size += result[0]
                total_read += result[1]
            sizes["FFV1 video + npz arrays"] += total_size + 2 * 40 * 4 * 4
            reads["FFV1 video + npz arrays"] += total_read
    print(
        f"{count} episodes of {args.data} (T={len(episode.robot_frames)}, "
        f"{episode.robot_frames.shape[1]}x{episode.robot_frames.shape[2]})"
    )
    print("| storage | bytes per episode | read ms per episode |")
    print("| --- | ---: | ---: |")
    for key in sizes:
        if key.startswith("FFV1") and not ffv1_ok:
            print(f"| {key} | not lossless / not writable in this OpenCV build | |")
            continue
        print(f"| {key} | {sizes[key] / count:,.0f} | {1000 * reads[key] / count:.2f} |")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("dataset_io", main))
