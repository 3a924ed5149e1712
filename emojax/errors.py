"""Exceptions raised by emojax. Each message names the file and what to do about it."""


class EmojaxError(Exception):
    """Base class of every error emojax raises on purpose."""


class VideoError(EmojaxError):
    """A video is missing, empty, truncated, not a video, or of a type we refuse."""


class NoFaceError(EmojaxError):
    """No face was found where one was required."""


class DatasetError(EmojaxError):
    """A dataset root, manifest or annotation file is missing or malformed."""


class FeatureStoreError(EmojaxError):
    """A stored feature record is unreadable or does not match what was asked for."""


class CheckpointError(EmojaxError):
    """A model checkpoint is missing, truncated or does not match the model."""


class ConfigError(EmojaxError, ValueError):
    """A setting is unknown or out of range, or settings contradict each other."""


class RunFileError(EmojaxError):
    """A file of a run folder is missing, unreadable, or does not hold what a run writes."""


class StorageError(EmojaxError, OSError):
    """A folder cannot be written: read-only, full, over quota, or not ours."""
