"""Drawing on a video frame what the tracker made of it: the face box, the skin patches whose
colour is the pulse and the 68 landmarks (a red border when no face is tracked), and a line of
text. OpenCV on BGR arrays, changed in place, for a live view (the dashboard's Live page, or
any window showing a camera)."""

from __future__ import annotations

import cv2
import numpy as np

from .live import LiveStep

#: colours (BGR): the face box, the skin patches, the landmarks (magenta: rare in faces and rooms),
#: the border when no face is tracked, and text
BOX, SKIN, LANDMARKS, NO_FACE, TEXT = (80, 200, 80), (60, 170, 255), (255, 0, 255), (40, 40, 220), (255, 255, 255)


def draw(bgr: np.ndarray, step: LiveStep) -> np.ndarray:
    """``bgr`` (changed in place, and returned) with the face box, the skin patches and the 68
    landmarks drawn; a red border when no face is tracked."""
    if not step.face:
        h, w = bgr.shape[:2]
        cv2.rectangle(bgr, (1, 1), (w - 2, h - 2), NO_FACE, 3)
        return bgr
    x0, y0, x1, y1 = (int(round(v)) for v in step.box)
    cv2.rectangle(bgr, (x0, y0), (x1, y1), BOX, 2)
    for poly in step.skin or []:
        if np.isfinite(poly).all():
            cv2.polylines(bgr, [np.round(poly).astype(np.int32)], True, SKIN, 1, cv2.LINE_AA)
    for x, y in np.round(step.landmarks).astype(np.int32):
        cv2.circle(bgr, (int(x), int(y)), 2, LANDMARKS, -1, cv2.LINE_AA)
    return bgr


def caption(bgr: np.ndarray, text: str) -> np.ndarray:
    """``bgr`` (changed in place, and returned) with ``text`` written in its top left corner."""
    cv2.putText(bgr, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, TEXT, 2, cv2.LINE_AA)
    return bgr
