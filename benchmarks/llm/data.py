"""Prompts of the `llm` track: generated here, deterministic, with reference answers.

Six families of short-answer instructions, so that a 135M model sometimes gets them right and a
reward can grade it:

- ``add``: "What is 17 + 25? Reply with the number only."  (reference: "42")
- ``sub``: "What is 71 - 25? Reply with the number only."  (reference: "46")
- ``capital``: "What is the capital of France? Reply with one word."  (reference: "Paris")
- ``upper``: "Write the word 'garden' in capital letters only."  (reference: "GARDEN")
- ``lower``: "Write the word 'GARDEN' in lowercase letters only."  (reference: "garden")
- ``list3``: "Name three planets of the solar system, separated by commas."  (reference: "Mars, Venus, Earth")

The pool is drawn once with a fixed generator (independent of the run's seed) and split three ways
by *group* (one result of a sum or difference, one country, one word, one list category): train,
validation (what a grid's tuning cells are scored on) and test (what the leaderboard reports).  A
group falls on one side only, and a word on one side for both of its families, so the held-out
prompts ask about nothing the policy was trained on.  Each split is interleaved family by family, so
its first n prompts mix the families as evenly as their pools allow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAMILIES = ("add", "sub", "capital", "upper", "lower", "list3")
SPLITS = ("train", "validation", "test")
HELD_OUT = {"test": 0.2, "validation": 0.15}  # shares of each family's groups
POOL_SEED = 0
POOL_VERSION = 2  # 2: six families, a validation part (1: four families, train/test only)

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
    "arrow", "badge", "cabin", "daisy", "ember", "fable", "glove", "honey", "igloo", "jewel",
    "koala", "lotus", "maple", "nurse", "olive", "pearl", "quilt", "raven", "scarf", "table",
    "uncle", "vapor", "whale", "xylophone", "yacht", "zebra", "acorn", "bacon", "camel", "denim",
    "eleven", "falcon", "garlic", "harbor", "icicle", "jersey", "kernel", "lizard", "meadow", "napkin",
    "orchid", "puzzle", "rhythm", "salmon", "timber", "unicorn", "velvet", "wizard", "yogurt", "zenith",
    "autumn", "blanket", "canyon", "desert", "elbow", "fountain", "goblet", "harvest", "journey", "kingdom",
    "lantern", "magnet", "nectar", "oxygen", "pillow", "riddle", "shadow", "thunder", "voyage", "whistle",
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


def _numbers(rng: random.Random, n: int, op: str) -> list[Prompt]:
    pairs = set()
    while len(pairs) < n:
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        if op == "-" and a <= b:
            continue
        pairs.add((a, b))
    value = (lambda a, b: a + b) if op == "+" else (lambda a, b: a - b)
    family = "add" if op == "+" else "sub"
    return [Prompt(family, f"What is {a} {op} {b}? Reply with the number only.", str(value(a, b)), str(value(a, b)))
            for a, b in sorted(pairs)]


def _pool(rng: random.Random) -> dict[str, list[Prompt]]:
    out = {"add": _numbers(rng, 600, "+"), "sub": _numbers(rng, 600, "-")}
    out["capital"] = [Prompt("capital", f"What is the capital of {c}? Reply with one word.", cap, cap)
                      for c, cap in CAPITALS.items()]
    out["upper"] = [Prompt("upper", f"Write the word '{w}' in capital letters only.", w.upper(), w.upper())
                    for w in WORDS]
    out["lower"] = [Prompt("lower", f"Write the word '{w.upper()}' in lowercase letters only.", w, w)
                    for w in WORDS]
    out["list3"] = [Prompt("list3", p.format(c=c), ", ".join(v[:3]).title(), c)
                    for c, v in CATEGORIES.items() for p in LIST_PHRASES]
    return out


def _group(p: Prompt) -> str:
    """The unit that falls on one side of the split: a word for both of its families."""
    return f"word:{p.key.lower()}" if p.family in ("upper", "lower") else f"{p.family}:{p.key}"


def _interleave(by_family: dict[str, list[Prompt]]) -> list[Prompt]:
    """One prompt of each family in turn (families in FAMILIES order) until all are used."""
    out, queues = [], [list(by_family[f]) for f in FAMILIES]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def _parts() -> dict[str, list[Prompt]]:
    rng = random.Random(POOL_SEED)
    pool = _pool(rng)
    groups = sorted({_group(p) for family in FAMILIES for p in pool[family]})
    rng.shuffle(groups)
    side: dict[str, str] = {}
    by_family_groups: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for g in groups:  # each family's own groups, in the shuffled order; words counted under "upper"
        family = "upper" if g.startswith("word:") else g.split(":", 1)[0]
        by_family_groups[family].append(g)
    for family, gs in by_family_groups.items():
        n_test = max(1, round(len(gs) * HELD_OUT["test"]))
        n_val = max(1, round(len(gs) * HELD_OUT["validation"]))
        for k, g in enumerate(gs):
            side[g] = "test" if k < n_test else "validation" if k < n_test + n_val else "train"
    parts: dict[str, dict[str, list[Prompt]]] = {s: {f: [] for f in FAMILIES} for s in SPLITS}
    for family in FAMILIES:
        prompts = list(pool[family])
        rng.shuffle(prompts)
        for p in prompts:
            parts[side[_group(p)]][family].append(p)
    return {s: _interleave(parts[s]) for s in SPLITS}


def splits(n_train: int, n_eval: int, part: str = "test") -> tuple[list[Prompt], list[Prompt]]:
    """Deterministic (train, held-out) prompts: the first ``n_train`` of the train split and the first
    ``n_eval`` of ``part`` ("test", or "validation" for tuning cells), families interleaved."""
    if part not in HELD_OUT:
        raise ValueError(f"llm held-out part {part!r}; valid: {', '.join(HELD_OUT)}")
    parts = _parts()
    train, held = parts["train"], parts[part]
    if n_train > len(train) or n_eval > len(held):
        raise ValueError(f"asked for {n_train} train / {n_eval} {part} prompts; the pool holds {len(train)} / "
                         f"{len(held)}")
    return train[:n_train], held[:n_eval]
