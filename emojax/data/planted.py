"""A known pulse planted into the skin of a real face video: ground truth for rPPG on footage
that has none (any clip of your own camera, a corpus clip), so that a heart-rate method can be
checked where it will be used rather than on synthetic colour traces.

What is planted is what real skin does, not what any pulse method assumes:

- the wave is a finger-PPG shape (systolic peak, dicrotic wave: a strong second harmonic) with
  heart-rate variability (:func:`emojax.data.animate.cardiac_phase`);
- its colour signature (how much R, G and B each swing) is that of one camera under one light
  (:data:`SIGNATURES`, from :func:`pulse_signature`), not PBV's;
- its strength varies smoothly over the face (a random field per case, ±40 % by default:
  forehead, cheeks and chin differ) and it arrives later lower down (a transit delay growing from
  the forehead to the chin, up to 60 ms);
- the camera's own noise (shot noise growing with brightness, plus read noise, independent per
  pixel and frame) is added before the frame is quantised to 8 bits again, and the frames can be
  re-encoded with a real lossy codec (:func:`reencode`), as a camera's are.

The skin is found by dlib on every frame, independently of emojax's tracker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .animate import BLOOD_RGB, cardiac_phase, ppg_wave, skin_mask

# --- the pulse's colour signature, from a small spectral model -------------------------------
#
# A camera channel c sees the skin through its sensitivity S_c(l), the light E(l) and the skin's
# reflectance R(l); the blood volume pulse changes the reflectance by a relative amount a(l), so
# the channel swings by sum(S_c E R a) / sum(S_c E R) of its brightness. a(l) is oxygenated
# haemoglobin's absorption (Prahl's compilation, omlc.org/spectra/hemoglobin, rounded) weighted
# by how much light reaches the dermal vessels (rising from blue to red: a logistic whose three
# parameters were fitted once so that the model gives de Haan & van Leest's PBV, 0.33 : 0.77 :
# 0.53, for their setting: a CMOS camera under halogen light on light skin). Changing the camera
# or the light then moves the signature as a real one moves. Sensitivities and lights are
# Gaussian approximations; this is a model for spreading test cases, not a colorimetric claim.

_NM = np.arange(400.0, 701.0, 10.0)
#: molar extinction of oxygenated haemoglobin, cm^-1/M, 400-700 nm every 10 nm
_HBO2 = np.array([266232, 466840, 480360, 214120, 62816, 68207, 44480, 33209, 26629, 23684, 20932, 20035,
                  24202, 39956, 53236, 43016, 32613, 44496, 50104, 14400, 3200, 1506, 942, 610, 442, 368,
                  320, 294, 278, 276, 290], float)
_REACH = 0.15 + 0.85 / (1 + np.exp(-(_NM - 520.0) / 30.0))    # share of light reaching the vessels


def _g(mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((_NM - mu) / sd) ** 2)


def _planck(kelvin: float) -> np.ndarray:
    m = _NM * 1e-9
    return 1.0 / (m ** 5 * (np.exp(1.4388e-2 / (m * kelvin)) - 1.0))


#: R, G, B sensitivities: a typical CMOS sensor, a webcam with broad overlapping filters, a
#: narrow-band (machine-vision) sensor
CAMERAS = {"CMOS": (_g(600, 30) + 0.1 * _g(540, 30), _g(535, 38), _g(460, 28)),
           "broad webcam": (_g(600, 38) + 0.12 * _g(535, 40), _g(540, 48) + 0.08 * _g(460, 40), _g(465, 36)),
           "narrow-band": (_g(615, 22), _g(530, 28), _g(455, 22))}
#: spectral power of the light
LIGHTS = {"halogen 2900 K": _planck(2900), "daylight 6500 K": _planck(6500),
          "cool-white LED": _g(450, 12) + 1.3 * _g(565, 55), "warm-white LED": 0.35 * _g(450, 12) + 1.3 * _g(590, 60),
          "fluorescent F11": 0.6 * _g(435, 6) + _g(545, 8) + 0.9 * _g(611, 8) + 0.05}
#: skin reflectance (melanin lowers the blue and green most)
SKINS = {"light": 0.2 + 0.4 / (1 + np.exp(-(_NM - 600) / 30)), "dark": 0.05 + 0.3 / (1 + np.exp(-(_NM - 640) / 30))}


def pulse_signature(camera: str, light: str, skin: str) -> tuple[float, float, float]:
    """The pulse's relative swing in R, G and B (green = 1) for a camera, a light and a skin of
    :data:`CAMERAS`, :data:`LIGHTS`, :data:`SKINS` (see the model above)."""
    e, s = LIGHTS[light], SKINS[skin]
    swing = [float((c * e * s * _HBO2 * _REACH).sum() / (c * e * s).sum()) for c in CAMERAS[camera]]
    return tuple(round(x / swing[1], 3) for x in swing)


#: the signatures planted: one in each quadrant around PBV's (more or less red, more or less
#: blue than its 0.43 and 0.69), none of them PBV's own setting (CMOS, halogen, light skin)
SIGNATURES = {k: pulse_signature(*k.split(", ")) for k in (
    "broad webcam, cool-white LED, light",    # more red, a little less blue
    "broad webcam, daylight 6500 K, light",   # more red, more blue
    "narrow-band, daylight 6500 K, light",    # less red, more blue
    "narrow-band, warm-white LED, dark")}     # less red, less blue
#: sensor noise added before quantising (read noise in grey levels; shot noise's variance per grey
#: level of brightness): about 2 grey levels at mid-grey, as a webcam at moderate gain
SENSOR_NOISE = (1.0, 0.03)


def chained(paths: Sequence) -> tuple[list[np.ndarray], float]:
    """The frames (BGR) of several videos one after the other, and the last one's frame rate:
    a longer real clip made of short ones (a cut at each join)."""
    from ..video import FrameReader

    frames, fps = [], float("nan")
    for p in paths:
        reader = FrameReader(p)
        frames += [f.bgr for f in reader]
        fps = reader.fps
    return frames, fps


def ping_pong(n: int, length: int) -> np.ndarray:
    """Indices into ``n`` frames that make ``length``: forward, then backward, then forward...
    (a clip looped without a jump: the motion reverses instead of cutting)."""
    period = np.r_[np.arange(n), np.arange(n - 2, 0, -1)] if n > 1 else np.zeros(1, int)
    return period[np.arange(length) % len(period)]


def face_points(frames: Sequence[np.ndarray], predictor=None) -> np.ndarray:
    """dlib's 68 points on every frame (its HOG detector on the whole frame, then the
    predictor in its box; NaN where it finds no face): ``(T, 68, 2)``."""
    from ..features.face import largest_dlib_face
    from ..features.landmarks import LandmarkPredictor

    pred = predictor or LandmarkPredictor()
    out = np.full((len(frames), 68, 2), np.nan)
    for i, bgr in enumerate(frames):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        box = largest_dlib_face(gray, upsamples=(0, 1))
        if box is not None:
            out[i] = pred(gray, box)
    return out


@dataclass
class SkinMask:
    """A frame's soft skin mask, kept only over its bounding box (``y``, ``x``: its top left)."""

    y: int
    x: int
    mask: np.ndarray       # (h, w) float32 in [0, 1]

    @property
    def box(self) -> tuple[slice, slice]:
        return np.s_[self.y:self.y + self.mask.shape[0], self.x:self.x + self.mask.shape[1]]


def skin_masks(frames: Sequence[np.ndarray], points: np.ndarray) -> list[SkinMask | None]:
    """Soft masks of each frame's facial skin (None where there are no points or no skin)."""
    out = []
    for f, p in zip(frames, points):
        m = skin_mask(f.shape[:2], p) if np.isfinite(p).all() else None
        ys, xs = (np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))) if m is not None else ((), ())
        out.append(SkinMask(int(ys[0]), int(xs[0]), np.ascontiguousarray(m[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]))
                   if len(ys) else None)
    return out


@dataclass
class PlantedPulse:
    """What was planted: the mean rate, the rate over time, the wave, and how it lies on the face."""

    bpm: float             # mean heart rate over the clip
    rate: np.ndarray       # (T,) instantaneous heart rate, bpm
    wave: np.ndarray       # (T,) the pulse wave at the forehead, 0 (diastole) .. 1 (systolic peak)
    amplitude: float       # the green channel's amplitude (half its peak-to-peak swing) over the skin, relative to its brightness
    signature: tuple[float, float, float] = BLOOD_RGB  # relative swing of R, G, B (green 1)
    strength: float = 0.0  # the pulse's strength varies over the face by up to this share (0.4: 0.6x to 1.4x)
    delay_s: float = 0.0   # the pulse arrives this much later at the chin than at the top of the forehead


def face_coordinates(points: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where pixels ``(ys, xs)`` lie on the face of ``points`` (68, 2): ``u`` across it (-1 at
    the jaw's left end, 1 at its right) and ``v`` down it (0 at the top of the forehead, as
    :func:`~emojax.data.animate.skin_mask` draws it, 1 at the chin). They move with the face."""
    d = float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))
    down = points[8] - points[17:27].mean(0)
    down = down / np.linalg.norm(down)
    top = points[17:27].mean(0) - 0.55 * d * down
    across = np.array([-down[1], down[0]])
    rel = np.stack([xs - top[0], ys - top[1]], axis=-1)
    half = 0.5 * abs(float((points[16] - points[0]) @ across)) or 1.0
    return rel @ across / half, rel @ down / max(float((points[8] - top) @ down), 1.0)


def strength_field(rng: np.random.Generator, strength: float):
    """A smooth random field over face coordinates ``(u, v)`` (:func:`face_coordinates`),
    between ``1 - strength`` and ``1 + strength`` over the face and averaging about 1: low-order
    trends (forehead to chin, side to side) plus three bumps of random place and sign."""
    c = rng.normal(size=5)
    bumps = [(rng.uniform(-0.8, 0.8), rng.uniform(0.1, 0.95), rng.uniform(0.2, 0.4), rng.normal()) for _ in range(3)]

    def raw(u, v):
        f = c[0] * (v - 0.5) + c[1] * u + c[2] * (v - 0.5) ** 2 + c[3] * u ** 2 + c[4] * u * (v - 0.5)
        return f + sum(w * np.exp(-((u - bu) ** 2 + (v - bv) ** 2) / (2 * s * s)) for bu, bv, s, w in bumps)

    gu, gv = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(0, 1, 41))
    inside = gu ** 2 + ((gv - 0.5) / 0.5) ** 2 <= 1                       # the face, roughly an ellipse
    g = raw(gu[inside], gv[inside])
    mid, span = g.mean(), np.abs(g - g.mean()).max() or 1.0
    return lambda u, v: np.clip(1.0 + strength * (raw(u, v) - mid) / span, 1 - strength, 1 + strength)


def plant_pulse(frames: Sequence[np.ndarray], fps: float, bpm: float, amplitude: float, *,
                points: np.ndarray, seed: int = 0, signature: tuple[float, float, float] | None = None,
                strength: float = 0.4, delay_s: float | None = None,
                noise: tuple[float, float] | None = SENSOR_NOISE,
                masks: list | None = None) -> tuple[list[np.ndarray], PlantedPulse]:
    """``frames`` (BGR uint8) with a pulse of mean ``bpm`` planted into the skin.

    Args:
        amplitude: amplitude of the pulse in the skin's green channel (half its peak-to-peak
            swing, as for any oscillation) as a share of the skin's brightness, averaged over
            the face: 0.01 = 1 %, a swing of 2 %; red and blue swing by ``signature``'s ratios
            to green.
        points: ``(T, 68, 2)`` landmarks per frame (:func:`face_points`); frames without them
            get no pulse (but the camera's noise).
        signature: relative swing of R, G, B; None: one of :data:`SIGNATURES`, drawn with ``seed``.
        strength: the pulse's strength varies smoothly over the face between ``1 - strength``
            and ``1 + strength`` times its mean (:func:`strength_field`, drawn with ``seed``).
        delay_s: the pulse reaches the chin this much later than the top of the forehead
            (linearly in between); None: drawn between 0 and 60 ms.
        noise: (read noise in grey levels, shot noise's variance per grey level) added to every
            pixel before the frame is rounded to 8 bits; None: only a dither of one grey level
            (a frame that is already 8-bit would otherwise lose any change under half a level).
        masks: the skin masks (:func:`skin_masks`) of these frames and points, when already made
            (they are the costly part; frames may repeat the same objects, as a looped clip does).

    Returns the new frames and what was planted.
    """
    times = np.arange(len(frames)) / fps
    rng = np.random.default_rng(seed)
    phase, rate = cardiac_phase(times, bpm, rng)
    if signature is None:
        signature = list(SIGNATURES.values())[rng.integers(len(SIGNATURES))]
    delay_s = float(rng.uniform(0.0, 0.06) if delay_s is None else delay_s)
    field = strength_field(rng, strength)
    gain = 2.0 * amplitude * np.asarray(signature[::-1], np.float32) / signature[1]  # BGR; the wave spans 0..1
    out = []
    for i, bgr in enumerate(frames):
        m = masks[i] if masks is not None else skin_masks([bgr], points[i:i + 1])[0]
        f = bgr.astype(np.float32)
        if m is not None:
            ys, xs = np.mgrid[m.box]
            u, v = face_coordinates(points[i], ys.astype(float), xs.astype(float))
            local = _wave(phase[i] - rate[i] / 60.0 * delay_s * np.clip(v, 0.0, 1.0))
            f[m.box] *= 1.0 - (local * field(u, v) * m.mask).astype(np.float32)[..., None] * gain
        out.append(_quantise(f, noise, rng))
    return out, PlantedPulse(float(rate.mean()), rate, _wave(phase), amplitude, tuple(signature), strength, delay_s)


def _wave(phase: np.ndarray) -> np.ndarray:
    """:func:`~emojax.data.animate.ppg_wave` at any phases, scaled by the wave's own peak over a
    whole cycle (ppg_wave scales by the highest value it is given: a frame's few phases)."""
    phase = np.asarray(phase, float)
    return ppg_wave(np.r_[phase.ravel(), _CYCLE])[:phase.size].reshape(phase.shape)


_CYCLE = np.linspace(0.0, 1.0, 2001)


def _quantise(f: np.ndarray, noise: tuple[float, float] | None, rng: np.random.Generator) -> np.ndarray:
    """A float frame back to 8 bits, through a sensor's noise (or a dither of one grey level)."""
    if noise is None:
        f += rng.uniform(-0.5, 0.5, f.shape).astype(np.float32)
    else:
        read, shot = noise
        n = rng.standard_normal(f.shape, dtype=np.float32)
        f += n * np.sqrt(read * read + shot * np.maximum(f, 0.0))
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def reencode(frames: Sequence[np.ndarray], fps: float, *, bits_per_pixel: float = 0.15, crf: int | None = None,
             codec: str = "libx264", preset: str = "veryfast") -> list[np.ndarray]:
    """``frames`` (BGR uint8) through a real lossy codec and back, in memory, as a camera's file
    would be: H.264 in 4:2:0 at ``bits_per_pixel`` (0.15: 390 kbit/s at 360x288 and 25 fps;
    a phone records 1080p at about 0.25, a video call sends 0.05-0.1), or at constant quality
    ``crf`` when given (FFmpeg's default, 23, is 0.035 bit per pixel on a talking head).
    libx264 does not give the same output for the same frames every time here (measured: two
    different results, alternating between calls); FFmpeg's own ``mpeg4`` does (tests use it)."""
    import io
    from fractions import Fraction

    import av

    h, w = (x - x % 2 for x in frames[0].shape[:2])
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        s = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = ({"preset": preset} if codec == "libx264" else {}) | ({"crf": str(crf)} if crf is not None else {})
        if crf is None:
            s.bit_rate = int(bits_per_pixel * w * h * fps)
        for bgr in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:h, :w]), format="bgr24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    buf.seek(0)
    with av.open(buf) as inp:
        return [fr.to_ndarray(format="bgr24") for fr in inp.decode(video=0)]
