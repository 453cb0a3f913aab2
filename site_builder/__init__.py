"""site-builder: serverless data challenges on GitHub."""

__version__ = "0.1.0"
