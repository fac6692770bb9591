"""Clinical domain shared by both pipeline variants.

Both coordination styles (choreography and orchestration) call these functions; only the wiring
between them differs. Nothing in this package logs transcript, note or model text.
"""
