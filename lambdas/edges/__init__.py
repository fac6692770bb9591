"""Consumers at the edges: subscribers of the domain event bus, the same in both variants."""
