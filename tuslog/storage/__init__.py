"""Where upload bytes live (the ``Store`` seam, ``FileStore``) and the per-upload locks."""
