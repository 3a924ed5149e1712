"""Imported once by the extraction pool's fork server, so that every worker it forks starts
with dlib's 68-point model already loaded (loading it takes about a second per process); in any
other process, imported at the first need of :func:`.shared.shared_predictor`."""

from .landmarks import LandmarkPredictor

PREDICTOR = LandmarkPredictor()
