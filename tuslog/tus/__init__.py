"""The tus 1.0 protocol at ``/files/``: routing, header parsing, the verbs."""
