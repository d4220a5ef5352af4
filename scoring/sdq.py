"""Placeholder: being written (see honosca.py for the shape)."""

from scoring.honosca import HONOSCA as _SHAPE

SDQ = _SHAPE
