"""Imaging orders from the HIS: the worklist's source and the link between claims and images."""
