"""Sensors and the jobs they launch.

``labels``: re-materializes labeled performance and fairness when late labels arrive.
``alerts``: sends tiered, deduplicated alerts on failed checks and retraining events.
"""

__all__: list[str] = []
