"""The machine a benchmark ran on (model/machine.py, where the installed commands find it too)."""

from model.machine import describe_machine

__all__ = ["describe_machine"]
