"""Storm-style windows: specs, the window manager and event-time watermarks (pure logic).

The streamparse glue is ``squall.windowed_bolt.WindowedBolt``.
"""

from squall.windows.manager import Window, WindowManager, check_timestamp
from squall.windows.spec import (
    Count,
    Duration,
    WindowCapacityError,
    WindowConfigError,
    WindowError,
    WindowInputError,
    WindowSpec,
)
from squall.windows.watermark import WatermarkGenerator

__all__ = [
    "Count",
    "Duration",
    "WatermarkGenerator",
    "Window",
    "WindowCapacityError",
    "WindowConfigError",
    "WindowError",
    "WindowInputError",
    "WindowManager",
    "WindowSpec",
    "check_timestamp",
]
