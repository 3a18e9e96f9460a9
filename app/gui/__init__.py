"""The PyQt6 desktop app: live video with a 2D overlay, a 3D skeleton / point-cloud view, a side
panel of settings and a status bar. The only part of handtrack that imports Qt.

Entry point: `app.gui.main_window.run_gui(engine_config, source_named=, osc=, record_dir=)
-> int` (app.cli.window_choices gives the keywords).
"""
