"""Townsquare: a self-hostable social-network backend."""
