"""The window's own configuration (not the engine's, not the user's persisted panel settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.gui.overlay import OverlayConfig


@dataclass
class Scene3DConfig:
    """center_depth_m: depth the view orbits around (where hands usually are); distance_m,
    elevation_deg, azimuth_deg: initial camera; grid_m / grid_step_m: floor grid size and spacing;
    floor_m: how far below the camera axis the grid lies; max_hands: item slots kept."""

    center_depth_m: float = 0.42
    distance_m: float = 0.6
    elevation_deg: float = 28.0
    azimuth_deg: float = -55.0
    grid_m: float = 1.2
    grid_step_m: float = 0.1
    floor_m: float = 0.25
    tick_x_m: float = 0.22  # where the depth labels stand on the floor (x, metres)
    bone_width_px: float = 4.0
    joint_size_px: float = 6.0
    cloud_size_px: float = 2.5
    max_hands: int = 4
    background: tuple[int, int, int] = (22, 24, 30)


@dataclass
class GuiConfig:
    """settings_file: an ini file for QSettings (tests, portable setups); None = the user's
    native settings store under organisation/application. force_2d: skip OpenGL (2D-only view)
    even when it works. stall_s: no frame for this long while running -> warning banner.
    autostart: start the engine when the window opens. restore_settings: read the saved panel
    settings and window state (False: defaults; saving still happens on close). theme: apply
    the dark Fusion theme to the application."""

    organisation: str = "handtrack"
    application: str = "handtrack"
    settings_file: str | None = None
    force_2d: bool = False
    stall_s: float = 3.0
    autostart: bool = True
    restore_settings: bool = True
    title: str = "handtrack"
    theme: bool = True
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    scene: Scene3DConfig = field(default_factory=Scene3DConfig)
