"""Choreography variant: Lambdas chained by S3 events through EventBridge and SQS; nobody in charge."""
