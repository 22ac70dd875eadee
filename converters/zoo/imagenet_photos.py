"""Every real photo that ships in a package here, and fixed augmented variants of them.

There is no ImageNet on this machine (nor any labelled set of real photos with a usable licence), so the
imagenet model is checked on scikit-image's and scikit-learn's sample photos (BSD / public domain) and on
crops, flips, scales and colour jitter of them. The variants are deterministic (a seed per set): the
calibration set, the port check and the int8 agreement set use different seeds, so int8 is never
measured on the very images it was calibrated on (they do share the 23 source photos: there are no more).
"""

from __future__ import annotations

import numpy as np

# skimage.data photos that need no download (checked: eagle, lily and skin need pooch and a network).
COLOUR = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "colorwheel")
COLOUR += ("retina", "logo", "stereo_motorcycle")
GREY = ("camera", "coins", "moon", "page", "text", "clock", "brick", "grass", "gravel")


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def photos() -> dict[str, np.ndarray]:
    """Name → uint8 RGB photo (grey ones as three equal channels; RGBA without alpha)."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    found = {}
    for name in COLOUR + GREY:
        image = getattr(data, name)()
        if name == "stereo_motorcycle":  # a stereo pair: two photos
            found["motorcycle_left"], found["motorcycle_right"] = _rgb(image[0]), _rgb(image[1])
            continue
        found[name] = _rgb(image)
    sample = load_sample_images()
    for file, image in zip(sample.filenames, sample.images):
        found[file.rsplit("/", 1)[-1].split(".")[0]] = _rgb(image)
    return found


def augment(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One random variant: a crop (50–100 % of each side), maybe a mirror, a scale, colour jitter.

    Returns:
        (uint8 RGB image, a short description of what was done).
    """
    import cv2

    height, width = image.shape[:2]
    crop_h, crop_w = (int(round(side * rng.uniform(0.5, 1.0))) for side in (height, width))
    top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    out = image[top : top + crop_h, left : left + crop_w]
    steps = [f"crop {crop_w}x{crop_h}+{left}+{top}"]
    if rng.random() < 0.5:
        out = out[:, ::-1]
        steps.append("mirror")
    scale = float(rng.uniform(0.4, 1.5))
    size = (max(16, int(out.shape[1] * scale)), max(16, int(out.shape[0] * scale)))
    out = cv2.resize(np.ascontiguousarray(out), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    steps.append(f"scale {scale:.2f}")
    gain = rng.uniform(0.75, 1.25, 3)  # per-channel: a white-balance shift
    brightness, contrast = rng.uniform(-25, 25), rng.uniform(0.75, 1.25)
    pixels = out.astype(np.float32) * gain
    pixels = (pixels - pixels.mean()) * contrast + pixels.mean() + brightness
    steps.append(f"gain {np.round(gain, 2).tolist()} contrast {contrast:.2f} brightness {brightness:+.0f}")
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), ", ".join(steps)


def photo_set(seed: int, variants_per_photo: int, originals: bool = True) -> list[tuple[str, np.ndarray]]:
    """The photos (when ``originals``) and ``variants_per_photo`` augmented variants of each.

    Returns:
        [(name, uint8 RGB image)], names like ``coffee`` and ``coffee~3 (crop …, mirror, …)``.
    """
    rng = np.random.default_rng(seed)
    found = []
    for name, image in photos().items():
        if originals:
            found.append((name, image))
        for index in range(variants_per_photo):
            variant, how = augment(image, rng)
            found.append((f"{name}~{index} ({how})", variant))
    return found


# Seeds of the fixed sets (different, so calibration images are never the measured ones).
CALIBRATION_SEED, PORT_CHECK_SEED, AGREEMENT_SEED = 11, 22, 33
