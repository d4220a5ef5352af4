"""Placeholder: being written (see honosca.py for the shape)."""

from scoring.honosca import HONOSCA as _SHAPE

ORS = _SHAPE
CORS = _SHAPE
SRS = _SHAPE
CSRS = _SHAPE
