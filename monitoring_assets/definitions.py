"""The code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Every spec in ``$MONITORING_SPECS_DIR`` (default ``monitors/``) becomes one asset group. A bad
spec stops loading with one line naming the file, the field and the reason.
"""

from monitoring_assets._factory import build_definitions

defs = build_definitions()
