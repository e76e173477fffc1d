"""HTTP shared by every surface: client IP and URLs, security headers, ops endpoints, the
uploader downloads, rate limits, logging, and aiohttp's internals in one place."""
