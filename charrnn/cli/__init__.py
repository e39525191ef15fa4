"""The `charrnn` and `charrnn sentiment` commands. Imports `lm`, `sentiment`, `serve` and the top level (`web` only
to start the app); only the entry points import it."""
from .main import main

__all__ = ["main"]
