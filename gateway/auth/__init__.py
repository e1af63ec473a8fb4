"""Users, roles, API keys, sessions and the access policy of the HTTP gateway."""
