"""Test images and the bare-pyvips baseline for the thumbnail part of ``pipeline.py``.

The images are camera-sized JPEGs (3000x2000, quality 90, about 1.7 MB) with texture at
every scale: colour waves, blotches and grain, so the encoder and the shrink-on-load
decoder do real work, as on a photograph. One textured canvas is built, then each image
is a different crop of it, flipped and colour-shifted: distinct pixels, quickly made.

The baseline makes the same thumbnails with the processor module's own :func:`render`
(the same libvips calls, sizes, format and quality) in a pool of plain processes, with
no queue, no catalog and no storing of outputs.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from pathlib import Path
from typing import Any

from chute.processors.builtin.image import ThumbnailOptions, render

WIDTH, HEIGHT = 3000, 2000
#: Room around the image in the canvas, for the crops to differ.
MARGIN = 256


def make_images(folder: Path, count: int, seed: int = 1) -> list[Path]:
    """Write ``count`` distinct textured JPEGs into ``folder``."""
    import pyvips

    canvas = _canvas(pyvips, WIDTH + MARGIN, HEIGHT + MARGIN)
    rng = random.Random(seed)
    paths = []
    for index in range(count):
        image = canvas.crop(rng.randrange(MARGIN), rng.randrange(MARGIN), WIDTH, HEIGHT)
        if index % 2:
            image = image.fliphor()
        gains = [rng.uniform(0.8, 1.2) for _ in range(3)]
        offsets = [rng.uniform(-20, 20) for _ in range(3)]
        path = folder / f"photo-{index:04d}.jpg"
        image.linear(gains, offsets).cast("uchar").jpegsave(str(path), Q=90)
        paths.append(path)
    return paths


def _canvas(pyvips: Any, width: int, height: int) -> Any:
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    # libvips' trigonometry works in degrees: half a degree per pixel gives a few bands
    red = (x * 0.5).sin() * 50 + (y * 1.15).cos() * 20 + 128
    green = ((x + y) * 0.35).cos() * 50 + 128
    blue = ((x - y * 0.5) * 0.85).sin() * 50 + 128
    blotches = pyvips.Image.gaussnoise(width // 16, height // 16, sigma=30, mean=0)
    blotches = blotches.resize(16, kernel="cubic")
    grain = pyvips.Image.gaussnoise(width, height, sigma=14, mean=0).gaussblur(0.8)
    image = red.bandjoin([green, blue]) + blotches + grain
    return image.cast("uchar").copy(interpretation="srgb").copy_memory()


def thumbnails(path: Path, options: ThumbnailOptions) -> int:
    """Make every thumbnail of one image; returns the bytes produced."""
    return sum(len(render(path, size, options).data) for size in options.sizes)


def _job(args: tuple[Path, ThumbnailOptions]) -> int:
    return thumbnails(*args)


def baseline_rate(paths: list[Path], options: ThumbnailOptions, processes: int) -> float:
    """Images per second for a pool of ``processes`` plain processes making the
    thumbnails of ``paths`` (the pool is started and warmed up before timing)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        # one full-size image per process first: loads libvips, as Chute's warm-up does
        pool.map(_job, [(path, options) for path in paths[:processes]], chunksize=1)
        start = time.perf_counter()
        pool.map(_job, [(path, options) for path in paths], chunksize=1)
        elapsed = time.perf_counter() - start
    return len(paths) / elapsed
