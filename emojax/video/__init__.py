"""Stream RGB frames with timestamps out of a video file, upright, in bounded memory, and say
whether the file was whole.

Anything FFmpeg decodes is read (through PyAV), but only files whose extension is on
``VIDEO_EXTENSIONS`` *and* whose first bytes look like that container (:mod:`.files`). Every
failure becomes a :class:`VideoError` naming the file. One video stream is read: the
container's default, or the one asked for (:mod:`.streams`), and what its container claims
about it is probed (:mod:`.probe`); its frames are turned upright as its display matrix says,
carry their presentation times (:mod:`.reader`), and every read ends with a verdict on whether
the file gave what its container promised (:mod:`.integrity`):
FFmpeg's own complaints are captured for this thread only and put into our message, never onto
the user's terminal.
"""

from .audio import AUDIO_RATE, AudioTrack, read_audio, wav_bytes
from .files import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, check_media_file, check_video_file
from .integrity import COMPLETE_SHARE, Integrity
from .probe import VideoInfo, audio_only, frame_times, probe
from .reader import CutsReader, Frame, FrameReader, read_frames
from .streams import StreamInfo, rotation_note, stream_note

__all__ = ["AUDIO_RATE", "AudioTrack", "read_audio", "wav_bytes", "AUDIO_EXTENSIONS", "VIDEO_EXTENSIONS", "check_media_file", "check_video_file", "COMPLETE_SHARE", "Integrity", "CutsReader", "Frame",
           "FrameReader", "VideoInfo", "audio_only", "frame_times", "probe", "read_frames", "StreamInfo", "rotation_note",
           "stream_note"]
