"""
The evaluation's held-out prompts (`evaluate.py`), shared with `v3_states.py`, which encodes them with
the sentence encoder ahead of an evaluation: seen wordings are held-out emoji's names; paraphrases swap
a word for a synonym or use a keyword in a framing that training captions never use.
"""

SYNONYMS = {"grinning": "smiling", "smiling": "happy", "face": "smiley", "cat": "kitty", "dog": "puppy", "red": "crimson",
            "heart": "love heart", "car": "automobile", "house": "home", "man": "guy", "woman": "lady", "big": "large",
            "small": "little", "flag": "banner", "arrow": "pointer", "button": "key", "hand": "palm", "tree": "plant",
            "with": "having", "and": "plus", "moon": "lunar", "sun": "sunny", "water": "aqua", "fire": "flames", "book": "novel"}


def paraphrase(item):
    words = item["name"].split()
    swapped = [SYNONYMS.get(w, w) for w in words]
    if swapped != words:
        return "a " + " ".join(swapped)
    keywords = [k for k in item["keywords"][2:] if k not in item["name"]]
    return f"a picture of {keywords[0]}" if keywords else f"the {item['name']} symbol"


def sample_prompt(item, k):
    """The k-th prompt of the 16-prompt sample sheet: a caption form, every other one with its style."""
    return item["captions"][0] + (f" in {item['style']} style" if k % 2 else "")


# Prompts people type that no emoji name matches word for word: v2, v3 and the draft side by side.
COMPARE_PROMPTS = ["a slice of pizza", "a rocket ship taking off", "our planet seen from space", "a smiling smiley",
                   "a cute kitty", "red heart in 3d style", "grinning face", "a cup of hot coffee"]


def candidate_prompts(item):
    """Every prompt the evaluation can make for one held-out item."""
    return [item["name"], paraphrase(item), sample_prompt(item, 0), sample_prompt(item, 1)]
