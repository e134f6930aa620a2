"""The local playground: try the whole bot in a browser as two partners and a therapist."""

from .server import Playground, PlaygroundClock, run_playground

__all__ = ["Playground", "PlaygroundClock", "run_playground"]
