"""Errors that reach the user. Each maps to one CLI exit code and one gr.Error in the demo."""

from __future__ import annotations


class VasaError(Exception):
    """Base class: a message written for the person who supplied the input."""

    exit_code = 1


class InputError(VasaError):
    """The input cannot be used: says what was wrong, what is accepted, and what to do."""

    exit_code = 2


class PolicyRefusal(VasaError):
    """The safety policy refused the request; nothing was generated."""

    exit_code = 3


class GenerationCancelled(VasaError):
    """The caller cancelled a running generation; its partial output was removed."""

    exit_code = 130
