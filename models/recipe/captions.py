"""
Paraphrased training captions for flowbot's shipped model.

The data build gives each image a few caption forms ("taco", "a taco emoji", "taco, mexican, food"); a
model trained on those alone learns those forms and little else, and people type freely ("mexican
food", "an image of a burrito"). During training, half of the captions are drawn from these instead:
every emojilib keyword of the image's own emoji (not just the first two), alone or after its name, in
one of the framings below, with or without the style word.

Kept apart from the evaluation's paraphrases (`evaluate.py`): only training emoji are ever captioned
(held-out emoji never appear), no framing here is one the evaluation uses ("a picture of …", "the …
symbol"), and no word is swapped for a synonym. `evaluate.py` counts its prompts that equal any caption
this module can make for a training image and records the count (0) in metrics.json.
"""

FRAMINGS = (
    "{}",
    "a {}",
    "an {}",
    "the {}",
    "{} emoji",
    "an emoji of {}",
    "{} icon",
    "an image of {}",
    "a drawing of {}",
    "a cute {}",
    "a {} sticker",
)


def phrases(item):
    """What an image can be called: its name, each keyword, and its name with each keyword."""
    name, keywords = item["name"], item["keywords"]
    return [name, *keywords, *(f"{name} {k}" for k in keywords[:4])]


def paraphrased_caption(item, rng):
    """One paraphrased caption of a training image, drawn with numpy Generator `rng`."""
    options = phrases(item)
    phrase = options[int(rng.integers(len(options)))]
    caption = FRAMINGS[int(rng.integers(len(FRAMINGS)))].format(phrase)
    if rng.random() < 0.5:
        caption = f"{caption} in {item['style']} style"
    return caption


def all_paraphrases(item):
    """Every caption `paraphrased_caption` can make for `item` (for vocabulary and honesty checks)."""
    out = []
    for phrase in phrases(item):
        for framing in FRAMINGS:
            caption = framing.format(phrase)
            out.extend((caption, f"{caption} in {item['style']} style"))
    return out
