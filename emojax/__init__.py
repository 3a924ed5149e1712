"""emojax: interpretable multimodal emotion recognition from face video (rPPG + landmarks)."""

__version__ = "0.1.0"
