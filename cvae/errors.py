"""The errors a user can cause: each carries one sentence that names what, where and what was expected."""


class CvaeError(Exception):
    """Base of every error that is the input's fault, not the program's; front ends show str(e) alone."""


class DatasetError(CvaeError):
    """A data folder or file is missing, malformed or unreadable."""


class CheckpointError(CvaeError):
    """A checkpoint file cannot be used: not a checkpoint, truncated, too new or inconsistent."""


class ConfigError(CvaeError):
    """A model or training option is out of range or unknown."""


class ResourceError(CvaeError):
    """The machine ran out of something the job needs (GPU or CPU memory, disk space); the input may be fine."""


class TrainingDiverged(CvaeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class OutputWriteError(CvaeError):
    """The checkpoint or the metrics log could not be written during training; the last good checkpoint was kept."""


class MissingWeightsError(CvaeError):
    """The FID Inception weights file is not on this machine (or is not that file); nothing is downloaded."""
