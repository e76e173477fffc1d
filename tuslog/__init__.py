"""tuslog: resumable diagnostic-archive uploads for support tickets."""

__version__ = "0.1.0"
