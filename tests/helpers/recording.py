"""Recording settings shared by the tests."""

from skillneuron_lens.record.recorder import RecordingConfig

QUIET = RecordingConfig(progress=False)
"""The default settings without a progress bar."""
