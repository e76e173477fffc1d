"""HTTP surfaces: the tus sub-app, operations endpoints, and the app factory."""
