"""The upload engine (``tuslog.uploads.engine.UploadEngine``): every rule about uploads,
with no HTTP."""
