"""sim.twin: a rosbridge v2 protocol server around a simulated Panda (the "sim twin").

Lets the whole ROS path (`daml run` over roslibpy) run and be tested with no ROS installed.
Run it with `python -m sim.twin --config launch/panda_sim.toml` or `daml twin`. Imports sim,
websockets and OpenCV; never torch, daml or roslibpy.
"""

from sim.twin.config import TwinConfig, TwinTopics, load_twin_config
from sim.twin.runtime import READY_PREFIX, BackgroundTwin, serve_forever
from sim.twin.server import RESET_SERVICE, STATUS_SERVICE, TwinServer

__all__ = [
    "READY_PREFIX",
    "RESET_SERVICE",
    "STATUS_SERVICE",
    "BackgroundTwin",
    "TwinConfig",
    "TwinServer",
    "TwinTopics",
    "load_twin_config",
    "serve_forever",
]
