"""Clinic records: the stored treatment episodes and their lines, and how they get in."""
