"""Orchestration variant: one Step Functions execution per encounter, named by its id."""
