"""Prompts of the `llm` track: generated here, deterministic, with reference answers.

Four families of short-answer instructions, so that a 135M model sometimes gets them right and a
reward can grade it:

- ``add``: "What is 17 + 25? Reply with the number only."  (reference: "42")
- ``capital``: "What is the capital of France? Reply with one word."  (reference: "Paris")
- ``upper``: "Write the word 'garden' in capital letters only."  (reference: "GARDEN")
- ``list3``: "Name three planets of the solar system, separated by commas."  (reference: "Mars, Venus, Earth")

The pool is drawn once with a fixed generator (independent of the run's seed) and split into a
train and a held-out test split; capitals, words and list categories of the test split never occur
in training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAMILIES = ("add", "capital", "upper", "list3")
POOL_SEED = 0

CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Japan": "Tokyo", "China": "Beijing", "Russia": "Moscow", "Egypt": "Cairo", "Greece": "Athens",
    "Poland": "Warsaw", "Austria": "Vienna", "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki",
    "Denmark": "Copenhagen", "Ireland": "Dublin", "Hungary": "Budapest", "Canada": "Ottawa",
    "Australia": "Canberra", "Mexico": "Mexico City", "Argentina": "Buenos Aires", "Peru": "Lima",
    "Chile": "Santiago", "Colombia": "Bogota", "Kenya": "Nairobi", "Thailand": "Bangkok", "India": "New Delhi",
    "Turkey": "Ankara", "Iran": "Tehran", "Iraq": "Baghdad", "Cuba": "Havana", "Belgium": "Brussels",
    "Netherlands": "Amsterdam", "Switzerland": "Bern", "Czechia": "Prague", "Romania": "Bucharest",
    "Bulgaria": "Sofia", "Ukraine": "Kyiv", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
    "Philippines": "Manila", "South Korea": "Seoul", "Nigeria": "Abuja", "Morocco": "Rabat",
    "Ethiopia": "Addis Ababa", "Brazil": "Brasilia", "Venezuela": "Caracas", "Iceland": "Reykjavik",
    "Scotland": "Edinburgh", "England": "London", "Wales": "Cardiff", "Croatia": "Zagreb", "Serbia": "Belgrade",
    "Pakistan": "Islamabad", "Afghanistan": "Kabul", "Saudi Arabia": "Riyadh", "Israel": "Jerusalem",
    "Syria": "Damascus", "Lebanon": "Beirut", "Jordan": "Amman", "Nepal": "Kathmandu",
}

WORDS = (
    "garden", "river", "window", "yellow", "planet", "silver", "forest", "orange", "bridge", "candle",
    "dragon", "winter", "summer", "pencil", "rocket", "castle", "butter", "jungle", "guitar", "anchor",
    "basket", "cookie", "dinner", "flower", "hammer", "island", "jacket", "kitten", "ladder", "marble",
    "needle", "parrot", "rabbit", "saddle", "tunnel", "violin", "wallet", "zipper", "bottle", "copper",
    "doctor", "engine", "finger", "ginger", "helmet", "insect", "jigsaw", "kettle", "lemon", "mirror",
    "number", "oyster", "pepper", "quartz", "ribbon", "spider", "ticket", "umbrella", "valley", "walnut",
    "apple", "beach", "cloud", "dance", "eagle", "flame", "grape", "horse", "ivory", "juice",
    "knife", "light", "music", "night", "ocean", "piano", "queen", "robot", "stone", "tiger",
)

CATEGORIES = {
    "planets of the solar system": ("mercury", "venus", "earth", "mars", "jupiter", "saturn", "uranus",
                                    "neptune"),
    "days of the week": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "months of the year": ("january", "february", "march", "april", "may", "june", "july", "august",
                           "september", "october", "november", "december"),
    "colors of the rainbow": ("red", "orange", "yellow", "green", "blue", "indigo", "violet", "purple"),
    "continents": ("africa", "antarctica", "asia", "australia", "europe", "north america", "south america",
                   "oceania", "america"),
    "fruits": ("apple", "banana", "orange", "pear", "grape", "grapes", "mango", "cherry", "cherries", "lemon",
               "strawberry", "strawberries", "peach", "plum", "kiwi", "pineapple", "watermelon", "melon",
               "apricot", "lime", "blueberry", "blueberries", "raspberry", "raspberries", "papaya", "fig"),
    "farm animals": ("cow", "cows", "pig", "pigs", "sheep", "goat", "goats", "horse", "horses", "chicken",
                     "chickens", "duck", "ducks", "donkey", "turkey", "rabbit", "llama", "hen", "hens"),
    "primary colors": ("red", "blue", "yellow", "green"),
    "musical instruments": ("piano", "guitar", "violin", "drums", "drum", "flute", "trumpet", "cello",
                            "saxophone", "clarinet", "harp", "bass", "organ", "trombone", "ukulele", "banjo"),
    "vegetables": ("carrot", "carrots", "potato", "potatoes", "tomato", "tomatoes", "onion", "onions",
                   "broccoli", "spinach", "lettuce", "cabbage", "pepper", "peppers", "cucumber", "peas",
                   "corn", "beans", "celery", "garlic", "zucchini", "eggplant", "kale"),
    "oceans": ("pacific", "atlantic", "indian", "arctic", "southern", "antarctic"),
    "metals": ("iron", "gold", "silver", "copper", "aluminum", "aluminium", "zinc", "tin", "lead",
               "nickel", "platinum", "titanium", "steel"),
}
LIST_PHRASES = ("Name three {c}, separated by commas.", "List three {c}. Separate them with commas.")


@dataclass(frozen=True)
class Prompt:
    """One instruction: its family, the text shown to the model and the reference answer."""

    family: str
    text: str
    answer: str
    key: str  # what the reward checks: the sum, the capital, the word in capitals or the category


def _pool(rng: random.Random) -> dict[str, list[Prompt]]:
    adds = set()
    while len(adds) < 200:
        adds.add((rng.randint(1, 60), rng.randint(1, 60)))
    out = {"add": [Prompt("add", f"What is {a} + {b}? Reply with the number only.", str(a + b), str(a + b))
                   for a, b in sorted(adds)]}
    out["capital"] = [Prompt("capital", f"What is the capital of {c}? Reply with one word.", cap, cap)
                      for c, cap in CAPITALS.items()]
    out["upper"] = [Prompt("upper", f"Write the word '{w}' in capital letters only.", w.upper(), w.upper())
                    for w in WORDS]
    out["list3"] = [Prompt("list3", p.format(c=c), ", ".join(v[:3]).title(), c)
                    for c, v in CATEGORIES.items() for p in LIST_PHRASES]
    return out


def splits(n_train: int, n_test: int) -> tuple[list[Prompt], list[Prompt]]:
    """Deterministic (train, test) prompts, the families mixed in proportion to their pool sizes.

    Whole groups (one country, one word, one list category) fall on one side of the split only."""
    rng = random.Random(POOL_SEED)
    pool = _pool(rng)
    train, test = [], []
    for family in FAMILIES:
        groups: dict[str, list[Prompt]] = {}
        for p in pool[family]:
            groups.setdefault(p.key, []).append(p)
        keys = sorted(groups)
        rng.shuffle(keys)
        n_test_keys = max(1, round(len(keys) * 0.2))
        test += [p for k in keys[:n_test_keys] for p in groups[k]]
        train += [p for k in keys[n_test_keys:] for p in groups[k]]
    rng.shuffle(train)
    rng.shuffle(test)
    if n_train > len(train) or n_test > len(test):
        raise ValueError(f"asked for {n_train} train / {n_test} test prompts; the pool holds {len(train)} / "
                         f"{len(test)}")
    return train[:n_train], test[:n_test]
