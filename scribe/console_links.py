"""`scribe status ID --links`: the console pages of one encounter, built from the deployment's outputs.

Its execution (orchestration), its traces (X-Ray's trace search on the encounter_id annotation every hop puts),
its log lines (the stack's saved Logs Insights query, filled in with the id, over the log groups the stack
outputs), its execution log group and the stack's dashboard. The links are the AWS console's, for the Region the
stack outputs: on the local cloud they are what the same deployment's links are on AWS (the local cloud has no
console), which is how they are checked there.
"""

from __future__ import annotations

from urllib.parse import quote

from clinical.encounter_logs import encounter_query
from clinical.executions import execution_arn
from clinical.layout import validate_encounter_id

# How far back the Logs Insights link looks: an encounter's review window is 72 hours; a week covers it.
LOGS_LOOK_BACK_SECONDS = 7 * 24 * 3600
# What the two consoles' links leave as they are inside a value (every other character is escaped).
PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def console_url(region: str, path: str) -> str:
    return f"https://{region}.console.aws.amazon.com/{path}"


def tilde_string(text: str) -> str:
    """A string in the CloudWatch console's URL state notation (~(key~'value)): each character but letters,
    digits, '-', '_' and '.' as *hh (its code in hex), '$' as '!'."""
    return "".join(c if c in PLAIN else "!" if c == "$" else f"*{ord(c):02x}" for c in text)


def percent_encoded(text: str) -> str:
    """Every character but letters, digits, '-', '_' and '.' as %HH: '~', '(' and "'" included, which
    urllib's quote keeps."""
    return "".join(c if c in PLAIN else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def traces_link(region: str, encounter_id: str) -> str:
    """The CloudWatch console's X-Ray trace search, filtered to the encounter's annotation."""
    expression = f'annotation.encounter_id = "{validate_encounter_id(encounter_id)}"'
    return console_url(
        region, f"cloudwatch/home?region={region}#xray:traces/query?~(query~(expression~'{tilde_string(expression)}))"
    )


def logs_insights_link(region: str, log_groups: list[str], encounter_id: str) -> str:
    """Logs Insights with the encounter's query over the log groups. The console reads its queryDetail state
    percent-encoded, then the whole encoded again with '%' written '$' (as in its own links)."""
    sources = "".join(f"~'{tilde_string(group)}" for group in log_groups)
    detail = (
        f"~(end~0~start~-{LOGS_LOOK_BACK_SECONDS}~timeType~'RELATIVE~unit~'seconds"
        f"~editorString~'{tilde_string(encounter_query(encounter_id))}~source~({sources}))"
    )
    state = percent_encoded(f"?queryDetail={percent_encoded(detail)}").replace("%", "$")
    return console_url(region, f"cloudwatch/home?region={region}#logsV2:logs-insights{state}")


def log_group_link(region: str, name: str) -> str:
    """A log group's page: its name percent-encoded twice, each % written $ (/ is $252F), as the console does."""
    console_name = quote(quote(name, safe=""), safe="").replace("%", "$")
    return console_url(region, f"cloudwatch/home?region={region}#logsV2:log-groups/log-group/{console_name}")


def execution_link(region: str, arn: str) -> str:
    return console_url(region, f"states/home?region={region}#/v2/executions/details/{arn}")


def dashboard_link(region: str, name: str) -> str:
    return console_url(region, f"cloudwatch/home?region={region}#dashboards/dashboard/{quote(name, safe='')}")


def encounter_links(outputs: dict[str, str], region: str, encounter_id: str) -> dict[str, str]:
    """The console links of one encounter in a deployment, by what they open (only those its outputs name)."""
    links = {}
    if machine := outputs.get("StateMachineArn"):
        links["execution"] = execution_link(region, execution_arn(machine, encounter_id))
    links["traces"] = traces_link(region, encounter_id)
    if groups := [group for group in outputs.get("EncounterLogGroups", "").split(",") if group]:
        links["Logs Insights"] = logs_insights_link(region, groups, encounter_id)
    if group := outputs.get("ExecutionLogGroupName"):
        links["execution logs"] = log_group_link(region, group)
    if name := outputs.get("DashboardName"):
        links["dashboard"] = dashboard_link(region, name)
    return links
