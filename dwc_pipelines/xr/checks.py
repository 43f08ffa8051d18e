import dagster as dg

from dwc_resources import LakehouseResource

from .assets import DEVICE_TWIN, DOCUMENT_MAP, SESSION_EVENTS, WORKFLOW_MAP


def _scene_check(scene: str):
    @dg.asset_check(
        asset=dg.AssetKey(["xr", scene]),
        name=f"{scene}_is_valid_gltf",
        blocking=True,
        description="The Khronos glTF validator found no error in the scene (when it is installed)",
    )
    def _check(warehouse: LakehouseResource) -> dg.AssetCheckResult:
        with warehouse.reader() as con:
            row = con.execute(
                "SELECT validator, validator_errors, validator_warnings, size_bytes FROM xr.scenes WHERE scene = ?",
                [scene],
            ).fetchall()
        if not row:
            return dg.AssetCheckResult(passed=False, metadata={"reason": "no scene row"})
        validator, errors, warnings, size = row[0]
        if errors is None:  # not installed here: a warning, never a silent pass
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"validator": validator or "not run"}
            )
        return dg.AssetCheckResult(
            passed=errors == 0,
            metadata={"validator": validator, "errors": errors, "warnings": warnings, "size_bytes": size},
        )

    return _check


@dg.asset_check(asset=SESSION_EVENTS, blocking=True, description="Every quarantined XR event line has a reason")
def xr_quarantine_reasons(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    with warehouse.reader() as con:
        n = con.execute("SELECT count(*) FROM xr.events_quarantine WHERE reason IS NULL OR reason = ''").fetchall()[0][
            0
        ]
    return dg.AssetCheckResult(passed=n == 0, metadata={"without_reason": n})


xr_checks = [_scene_check(s.path[-1]) for s in (DOCUMENT_MAP, DEVICE_TWIN, WORKFLOW_MAP)] + [xr_quarantine_reasons]
