"""CDK stacks: one per pipeline variant; constructs/ holds the shapes both repeat."""
