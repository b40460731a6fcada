"""cemtool: host companion of the cemt carbon-emission monitoring terminal."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cemtool")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
