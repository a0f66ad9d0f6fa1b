"""What the composition root (tap.py) builds, one area a module; the root wires them.
Nothing here imports the global reactor: it is passed in."""
