"""The local cloud: moto made faithful enough to run this project's stacks offline."""
