"""A setting read from the function's environment, or ConfigurationError naming it.

clinical.settings reads the deployment's settings with it; a function that needs a setting or two (a bucket, a
state machine) imports this module alone, not the settings' dataclass and the pipeline's policy, which its cold
start would otherwise build (docs/performance.md)."""

import os
from collections.abc import Mapping

from clinical.errors import ConfigurationError


def require_env(name: str, env: Mapping[str, str] | None = None) -> str:
    """A setting only some functions need (a table or state machine name)."""
    value = (os.environ if env is None else env).get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value
