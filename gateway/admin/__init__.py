"""Administration API: users and the audit trail (admin role)."""
