"""The `facesets` command: a thin layer over the library."""
