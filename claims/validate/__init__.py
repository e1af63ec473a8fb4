"""Validation before anything leaves: safe parsing, XSD per table and envelope, pre-check rules."""
