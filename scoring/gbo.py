"""Placeholder: being written (see honosca.py for the shape)."""

from scoring.honosca import HONOSCA as _SHAPE

GBO = _SHAPE
