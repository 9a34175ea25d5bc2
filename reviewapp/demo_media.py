"""Inputs a person can judge, for the demo: chest-film-like pictures for the radiology model and
support-ticket text for the triage model, made here (no download), deterministic per prediction.

Hooked into ``reviewapp.demo.envelope`` by one call (:func:`add_media`), which draws from its
own random stream so the rest of the synthetic traffic is unchanged. The pictures are
synthetic: a dark field, the thorax, two lungs with rib shadows, spine, heart and clavicles,
and the finding the prediction is about (drawn on most, another one or none on the rest, so a
reviewer has something to agree or disagree with). They are not medical images.
"""

from __future__ import annotations

import base64
import math
import random
import struct
import zlib
from functools import lru_cache
from typing import Any

SIZE = 256
IMAGE_FIELD = "image"
TEXT_FIELD = "body"
TITLE_FIELD = "subject"

# How the demo's models present their inputs (MLModel.presentation; docs/presentation.md).
DEMO_PRESENTATIONS: dict[str, dict[str, Any]] = {
    "radiology-triage": {"kind": "image", "image_source": "bytes", "image_field": IMAGE_FIELD},
    "support-triage": {"kind": "text", "text_field": TEXT_FIELD, "title_field": TITLE_FIELD},
}


def add_media(
    slug: str, n: int, *, label: str, features: dict[str, Any], signals: dict[str, Any]
) -> None:
    """Add the image or the ticket text (and the attributions pointing into the text) to one
    demo envelope's input, in place. Other models are left as they are."""
    rng = random.Random(f"media:{slug}:{n}:{label}")
    if slug == "radiology-triage":
        features[IMAGE_FIELD] = chest_film_b64(label=label, rng=rng)
    elif slug == "support-triage":
        body, spans = ticket_body(subject=str(features.get(TITLE_FIELD, "")), label=label, rng=rng)
        features[TEXT_FIELD] = body
        signals.setdefault("attributions", {}).update(spans)


# --- PNG, written by hand (zlib + struct): 8-bit greyscale --------------------------------
def png_greyscale(pixels: bytes | bytearray, width: int, height: int) -> bytes:
    """A PNG of ``width`` × ``height`` 8-bit grey pixels (row-major), rows unfiltered."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type "none"
        raw.extend(pixels[y * width : (y + 1) * width])
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


# --- the chest film -------------------------------------------------------------------------
FINDINGS = ("no_finding", "nodule", "effusion", "pneumothorax", "fracture")
_ANATOMIES = 3


def _inside(x: float, y: float, cx: float, cy: float, rx: float, ry: float) -> float:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2


def _smooth(edge0: float, edge1: float, x: float) -> float:
    # Called ~50,000 times a picture: comparisons, not min()/max().
    t = (x - edge0) / (edge1 - edge0)
    if t <= 0:
        return 0.0
    if t >= 1:
        return 1.0
    return t * t * (3 - 2 * t)


@lru_cache(maxsize=_ANATOMIES)
def _anatomy(variant: int) -> tuple[bytes, tuple[tuple[float, float, float, float], ...]]:
    """One chest (grey pixels: bright is dense, as on a film) and its two lungs' ellipses
    (cx, cy, rx, ry), the patient's right on the image's left as on a PA film. Made once per
    variant per process."""
    rng = random.Random(f"anatomy:{variant}")
    # Drawn at half size and scaled up (bilinear): the picture is smooth, and this keeps a
    # demo's seeding fast in pure Python.
    s = SIZE // 2
    mid = s / 2
    lung_rx, lung_ry = s * rng.uniform(0.165, 0.185), s * rng.uniform(0.31, 0.34)
    lungs = (
        (mid - s * 0.19, s * 0.50, lung_rx, lung_ry),
        (mid + s * 0.19, s * 0.50, lung_rx * 0.96, lung_ry * 0.97),
    )
    heart = (mid + s * rng.uniform(0.04, 0.07), s * 0.70, s * rng.uniform(0.15, 0.18), s * 0.14)
    hila = [(mid - s * 0.09, s * 0.48), (mid + s * 0.09, s * 0.47)]
    rib_phase = rng.uniform(0, math.pi)
    vessel_phase = rng.uniform(0, 6.3)
    px = bytearray(s * s)
    for y in range(s):
        # The body's half width: the neck at the top, the shoulders, then the chest wall.
        half = s * (0.13 + 0.36 * _smooth(0.02 * s, 0.16 * s, y))
        for x in range(s):
            dx = abs(x - mid)
            body = _smooth(half + 3, half - 5, dx)
            density = 12 + body * (128 + 22 * _smooth(half * 0.6, half, dx))
            air = 0.0
            for (cx, cy, rx, ry), (hx, hy) in zip(lungs, hila, strict=True):
                d = _inside(x, y, cx, cy, rx, ry)
                # The diaphragm's dome: the base is lowest at the side (costophrenic angle).
                base = cy + ry * (
                    0.62 + 0.30 * ((x - cx) / rx + (1 if cx > mid else -1) * 0.3) ** 2
                )
                inside = _smooth(1.0, 0.82, d) * _smooth(base + 2, base - 6, y)
                if inside <= 0:
                    continue
                # Vessels fan out from each hilum and fade toward the periphery.
                r = math.hypot(x - hx, y - hy) + 1
                angle = math.atan2(y - hy, x - hx)
                wobble = 0.6 * math.sin(r * 0.31 + angle * 3) + 0.08 * r
                vessels = max(0.0, math.sin(angle * 17 + vessel_phase + wobble)) ** 8
                vessels *= 22 * max(0.0, 1 - r / (rx * 1.6))
                band = math.sin((y + 0.012 * (x - mid) ** 2) * 0.42 + rib_phase)
                ribs = 30 * _smooth(0.45, 0.85, band)
                air = max(air, inside * (1.0 - (vessels + ribs) / 110))
            density -= 100 * air
            density += 48 * _smooth(s * 0.085, s * 0.055, dx) * _smooth(s * 0.08, s * 0.2, y)
            if dx < s * 0.012 and s * 0.02 < y < s * 0.30:
                density -= 34  # the trachea's air column
            h = _smooth(1.0, 0.6, _inside(x, y, *heart))
            density = density * (1 - h) + 150 * h
            for side in (-1, 1):  # clavicles
                t = (x - mid) * side
                if s * 0.04 < t < s * 0.34:
                    cy_ = s * 0.23 - 0.32 * t + 0.0026 * t * t
                    density += 55 * _smooth(2.6, 0.8, abs(y - cy_))
            px[y * s + x] = int(max(0, min(255, density)))
    big = bytearray(SIZE * SIZE)
    # Where each output pixel falls between two input pixels, per axis (the same for both).
    taps = []
    for i in range(SIZE):
        f = min(s - 1.001, max(0.0, (i + 0.5) / 2 - 0.5))
        taps.append((int(f), f - int(f)))
    for y, (y0, wy) in enumerate(taps):
        row = y * SIZE
        for x, (x0, wx) in enumerate(taps):
            i = y0 * s + x0
            top = px[i] + (px[i + 1] - px[i]) * wx
            bottom = px[i + s] + (px[i + s + 1] - px[i + s]) * wx
            big[row + x] = int(top + (bottom - top) * wy)
    scale = SIZE / s
    return bytes(big), tuple(tuple(v * scale for v in lung) for lung in lungs)


def _draw_finding(
    px: bytearray,
    finding: str,
    lungs: tuple[tuple[float, float, float, float], ...],
    rng: random.Random,
) -> None:
    s = SIZE
    cx, cy, rx, ry = lungs[rng.randrange(2)]
    if finding == "nodule":
        nx, ny = cx + rng.uniform(-0.4, 0.4) * rx, cy + rng.uniform(-0.5, 0.3) * ry
        r = rng.uniform(6, 10)
        for y in range(int(ny - r - 2), int(ny + r + 3)):
            for x in range(int(nx - r - 2), int(nx + r + 3)):
                d = math.hypot(x - nx, y - ny) / r
                if 0 <= x < s and 0 <= y < s and d < 1.2:
                    px[y * s + x] = min(255, px[y * s + x] + int(110 * max(0.0, 1.2 - d)))
    elif finding == "effusion":
        level = cy + ry * rng.uniform(0.25, 0.5)
        for y in range(int(level - 12), int(cy + ry)):
            for x in range(int(cx - rx), int(cx + rx) + 1):
                meniscus = level - 12 * ((x - cx) / rx) ** 2 * (1 if cx > s / 2 else 1)
                if 0 <= y < s and _inside(x, y, cx, cy, rx, ry) < 1.05 and y > meniscus:
                    px[y * s + x] = max(px[y * s + x], 150)
    elif finding == "pneumothorax":
        # The collapsed lung's edge: a smaller ellipse, pulled toward the hilum; beyond it,
        # toward the chest wall at the apex, air without lung markings.
        k = rng.uniform(0.62, 0.78)
        side = -1 if cx < s / 2 else 1
        icx, icy = cx - side * rx * (1 - k) * 0.8, cy + ry * (1 - k) * 0.6
        for y in range(int(cy - ry), int(cy + ry * 0.3)):
            for x in range(int(cx - rx), int(cx + rx) + 1):
                if not (0 <= x < s and 0 <= y < s) or _inside(x, y, cx, cy, rx, ry) >= 0.98:
                    continue
                inner = _inside(x, y, icx, icy, rx * k, ry * k)
                if px[y * s + x] > 120:
                    continue  # bone and soft tissue stay; only the lung's air changes
                if inner > 1.06:
                    px[y * s + x] = 22
                elif inner > 0.96:
                    px[y * s + x] = 150  # the visceral pleural line
    elif finding == "fracture":
        side = -1 if cx < s / 2 else 1
        fx = cx + side * rx * rng.uniform(0.6, 0.85)
        fy = cy + rng.uniform(-0.5, 0.1) * ry
        for y in range(int(fy - 9), int(fy + 10)):
            for x in range(int(fx - 3), int(fx + 4)):
                if 0 <= x < s and 0 <= y < s:
                    px[y * s + x] = 25 if abs(x - fx) < 1.6 else min(255, px[y * s + x] + 35)


# A burned-in "R" marker (5×7), as films carry: the patient's right.
_R = ["11110", "10001", "10001", "11110", "10100", "10010", "10001"]


@lru_cache(maxsize=64)
def _film(variant: int, finding: str, where: int) -> str:
    pixels, lungs = _anatomy(variant)
    px = bytearray(pixels)
    _draw_finding(px, finding, lungs, random.Random(f"finding:{variant}:{finding}:{where}"))
    for row, bits in enumerate(_R):
        for col, bit in enumerate(bits):
            if bit == "1":
                for dy in (0, 1):
                    for dx in (0, 1):
                        px[(10 + 2 * row + dy) * SIZE + 10 + 2 * col + dx] = 235
    return base64.b64encode(png_greyscale(px, SIZE, SIZE)).decode("ascii")


def chest_film_b64(*, label: str, rng: random.Random) -> str:
    """A 256×256 greyscale PNG (base64) showing ``label``'s finding four times in five, and
    another finding (or none) otherwise. At most 3 × 5 × 3 distinct pictures per process,
    each made once: a demo of thousands of predictions stays fast."""
    finding = label if label in FINDINGS and rng.random() < 0.8 else rng.choice(FINDINGS)
    return _film(rng.randrange(_ANATOMIES), finding, rng.randrange(3))


# --- the ticket text ------------------------------------------------------------------------
_OPENINGS = ["Hello,", "Hi team,", "Good morning,", "Hi there,", "Dear support,"]
_CLOSINGS = [
    "Thanks for looking into it.",
    "Please get back to me soon.",
    "Kind regards.",
    "Thank you!",
    "I would appreciate a quick answer.",
]
# Per topic: what the customer writes; the key phrase in [brackets] is what a triage model
# reads the topic from, and the attributions point at it.
_BODIES: dict[str, list[str]] = {
    "billing": [
        "I checked my bank statement and I was [charged twice] for the {plan} plan on {day}.",
        "My invoice for {month} shows [an amount I did not agree to], about {amount} EUR more than usual.",
        "I cancelled last month but the [refund has not arrived] yet, and it has been {days} days.",
    ],
    "technical": [
        "Since the update to version {version} the app [crashes on start] on my phone.",
        "Every time I upload a photo I get [error code E{code}] and the upload stops.",
        "The [sync stopped working] between my laptop and the app after {day}.",
    ],
    "account": [
        "I [cannot log in] to my account: the password reset email never arrives.",
        "I have two accounts with different emails and would like to [merge my accounts].",
        "Please [change the email address] on my account, the old one is closed.",
    ],
    "abuse": [
        "Another user keeps [sending me threatening messages] after I blocked them.",
        "Someone is [impersonating me] with a profile using my name and photos.",
        "A seller in the marketplace [asked me to pay outside the platform] and then disappeared.",
    ],
    "other": [
        "I was wondering whether you [have an office in Lisbon] where I could drop by.",
        "Could you tell me [whether you are hiring] for the support team?",
        "I would like to [give some feedback about the new design], which I like a lot.",
    ],
}
# A side remark that a model might latch onto, by the label it points to.
_SIDE_REMARKS: dict[str, str] = {
    "billing": "By the way, I am [on the {plan} plan] if that matters.",
    "technical": "I am using the [Android app], if that helps.",
    "account": "My [username] is the same as my email.",
    "abuse": "The [messages] in my inbox are piling up.",
    "other": "I [have a question] about something else too, but later.",
}
_TOPIC_WORDS = {
    "billing": ("charged", "refund", "invoice", "payment"),
    "technical": ("crash", "sync", "upload", "error", "app"),
    "account": ("password", "account", "merge", "log in", "email"),
    "abuse": ("threat", "harass", "spam", "abuse", "impersonat"),
}


def _topic_of(subject: str) -> str:
    words = subject.lower()
    for topic, keys in _TOPIC_WORDS.items():
        if any(k in words for k in keys):
            return topic
    return "other"


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        plan=rng.choice(["Pro", "Family", "Business", "Starter"]),
        day=rng.choice(["Monday", "Tuesday", "the 3rd", "the 14th", "the 28th"]),
        month=rng.choice(["October", "November", "December"]),
        amount=rng.choice(["12.99", "30", "49.50", "120"]),
        days=rng.randint(8, 40),
        version=f"{rng.randint(4, 6)}.{rng.randint(0, 12)}",
        code=rng.randint(100, 999),
    )


def ticket_body(*, subject: str, label: str, rng: random.Random) -> tuple[str, dict[str, float]]:
    """A few sentences about ``subject``'s topic, and attributions naming character spans of
    the text (``body[start:end]``): the key phrase counts toward ``label`` when it is the
    topic, against it when not; then a side remark that points to ``label`` does."""
    topic = _topic_of(subject)
    parts: list[tuple[str, float | None]] = [(rng.choice(_OPENINGS) + "\n\n", None)]
    main, extra = (_fill(t, rng) for t in rng.sample(_BODIES[topic], 2))
    weight = round(rng.uniform(0.35, 0.6), 3)
    parts.append((main, weight if label == topic else -weight))
    if rng.random() < 0.5:
        value = round(rng.uniform(0.05, 0.2), 3)
        parts.append((" " + extra, value if label == topic else -value))
    if label != topic and label in _SIDE_REMARKS:
        parts.append((" " + _fill(_SIDE_REMARKS[label], rng), round(rng.uniform(0.3, 0.5), 3)))
    parts.append(("\n\n" + rng.choice(_CLOSINGS), None))
    text, spans = "", {}
    for chunk, value in parts:
        while "[" in chunk:
            before, _, rest = chunk.partition("[")
            phrase, _, chunk = rest.partition("]")
            text += before
            if value is not None:
                spans[f"{TEXT_FIELD}[{len(text)}:{len(text) + len(phrase)}]"] = value
            text += phrase
        text += chunk
    if rng.random() < 0.3 and "please" in text.lower():
        spans[f"{TEXT_FIELD}:please"] = -0.05
    return text, spans
