"""The social-insurance assessment portal ("egw", spec §9): a client Protocol, its HTTP
implementation and the submission / acknowledgement tracking built on it."""
