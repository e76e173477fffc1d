"""Bytes on disk (the Store seam) and the cross-process per-upload lock."""
