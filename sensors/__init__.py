"""Sensors and the jobs they launch.

``labels``: re-materializes labeled performance and fairness when late labels arrive.
"""
