"""People and access: users with roles, hashed passwords, wall tokens, sessions and the checks on every action."""
