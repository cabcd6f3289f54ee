"""Sensors and retraining jobs (label arrival, drift-triggered retraining, alerts).

Empty for now: the monitoring core provides the assets and checks these sensors will watch.
"""
