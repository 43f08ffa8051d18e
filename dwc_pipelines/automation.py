"""How assets follow their upstream assets on their own."""

import dagster as dg


def eager() -> dg.AutomationCondition:
    """Dagster's eager condition, set off by a dependency whose data version changed (or that is
    about to run in the same tick) instead of by any new materialization of it: a run that finds
    nothing new, and says so with an unchanged data version, sets off no cascade of runs."""
    changed = dg.AutomationCondition.data_version_changed() | dg.AutomationCondition.will_be_requested()
    return dg.AutomationCondition.eager().replace(
        "any_deps_updated", dg.AutomationCondition.any_deps_match(changed).with_label("any_deps_changed")
    )
