"""scribe: the operator CLI for both variants, on AWS and on the local cloud."""
