"""The ``media`` section of ``meta.extract``: container, codec, duration and stream
properties of audio and video, as mutagen reads them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from chute.processors.builtin.meta.section import MetaOptions

#: Codec of formats whose mutagen info does not name it, by mutagen class name.
_CODECS = {
    "MP3": "mp3",
    "FLAC": "flac",
    "OggFLAC": "flac",
    "OggVorbis": "vorbis",
    "OggOpus": "opus",
    "OggSpeex": "speex",
    "OggTheora": "theora",
    "AAC": "aac",
    "AC3": "ac3",
    "WAVE": "pcm",
    "AIFF": "pcm",
    "WavPack": "wavpack",
    "MonkeysAudio": "ape",
}


def media_section(path: Path, options: MetaOptions) -> dict[str, Any]:
    """The audio or video file's section; raises if mutagen cannot read the format."""
    import mutagen

    media = mutagen.File(str(path))
    if media is None or media.info is None:
        raise ValueError("mutagen does not recognise the format")
    info = media.info
    container = type(media).__name__
    return {
        "container": container,
        "codec": _codec(container, info),
        "duration_seconds": _finite(getattr(info, "length", None)),
        "bitrate": getattr(info, "bitrate", None) or None,
        "sample_rate": getattr(info, "sample_rate", None) or None,
        "channels": getattr(info, "channels", None) or None,
        "bits_per_sample": getattr(info, "bits_per_sample", None) or None,
    }


def _codec(container: str, info: Any) -> str | None:
    codec = getattr(info, "codec", None)
    if codec:
        return str(codec)
    if container == "WAVE" and getattr(info, "audio_format", 1) != 1:
        return None  # a WAV of compressed audio
    return _CODECS.get(container)


def _finite(value: object, digits: int = 3) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return round(float(value), digits)
    return None
