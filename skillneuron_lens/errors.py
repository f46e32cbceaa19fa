"""Exceptions raised by skillneuron-lens.

Every error a user can trigger with bad input is a :class:`SkillNeuronError` (a ``ValueError``), and
its message names the problem and the fix.
"""

from __future__ import annotations

__all__ = [
    "SkillNeuronError",
    "HookNotFoundError",
    "ResultFileError",
    "MissingPackageError",
]


class SkillNeuronError(ValueError):
    """Bad input or state that the user can fix; the message says how."""


class HookNotFoundError(SkillNeuronError, KeyError):
    """A requested hook point or layer does not exist on the model."""

    def __str__(self) -> str:
        """Show the message as is (``KeyError`` would quote it)."""
        return str(self.args[0]) if self.args else ""


class ResultFileError(SkillNeuronError):
    """A saved result is missing, damaged, or belongs to another model."""


class MissingPackageError(SkillNeuronError, ImportError):
    """An optional package (offline weights or data) is not installed; the message gives the command."""
