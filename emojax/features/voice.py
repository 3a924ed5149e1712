"""The voice a video carries: eGeMAPS v02 low-level descriptors (openSMILE), named for a reader.

The 25 descriptors come every 10 ms from the file's audio track (mono, 16 kHz). Each feature
record holds them at its own frames - each frame's interval averaged - with a mask of its own,
``Features.speech``: True where the frame holds voiced speech, False in silence, where the file
has no audio track, or past the end of a track shorter than the video.
"""

from __future__ import annotations

#: the eGeMAPS v02 low-level descriptors, in openSMILE's order (``Smile.feature_names``)
DESCRIPTORS = (
    "Loudness_sma3", "alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
    "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3",
    "F0semitoneFrom27.5Hz_sma3nz", "jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
    "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz",
    "F1frequency_sma3nz", "F1bandwidth_sma3nz", "F1amplitudeLogRelF0_sma3nz",
    "F2frequency_sma3nz", "F2bandwidth_sma3nz", "F2amplitudeLogRelF0_sma3nz",
    "F3frequency_sma3nz", "F3bandwidth_sma3nz", "F3amplitudeLogRelF0_sma3nz",
)

#: the voice's groups for permutation importance, each a set of descriptors a person can name
GROUPS = {
    "prosody": ("F0semitoneFrom27.5Hz_sma3nz", "Loudness_sma3"),
    "voice quality": ("jitterLocal_sma3nz", "shimmerLocaldB_sma3nz", "HNRdBACF_sma3nz",
                      "logRelF0-H1-H2_sma3nz", "logRelF0-H1-A3_sma3nz"),
    "formants": tuple(f"F{i}{k}" for i in (1, 2, 3) for k in
                      ("frequency_sma3nz", "bandwidth_sma3nz", "amplitudeLogRelF0_sma3nz")),
    "spectral balance": ("alphaRatio_sma3", "hammarbergIndex_sma3", "slope0-500_sma3", "slope500-1500_sma3",
                         "spectralFlux_sma3", "mfcc1_sma3", "mfcc2_sma3", "mfcc3_sma3", "mfcc4_sma3"),
}

#: what a record's voice can be: read and heard somewhere, read but silent or short, no audio
#: track at all, or not read yet (a record stored before emojax read voice)
STATUSES = ("present", "partial", "absent", "unread")
