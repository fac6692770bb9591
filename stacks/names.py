"""The deployed stacks' names: what the local cloud, its experiments and the CLI need of the app
without loading the CDK (and its Node runtime)."""

CHOREOGRAPHY_STACK = "ClinicalScribeChoreography"
ORCHESTRATION_STACK = "ClinicalScribeOrchestration"
