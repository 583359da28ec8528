"""Attribute names as people read them: CelebA's 40 attributes in groups, their display names, and the presets
(one table, used by Generate's toggles and Edit's rows). Names a model has beyond CelebA's go to "Other", so any
attribute file works."""

from __future__ import annotations

# CelebA's 40 attributes, grouped as a person would look for them
ATTRIBUTE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Hair", ("Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Receding_Hairline",
              "Straight_Hair", "Wavy_Hair")),
    ("Face shape", ("Chubby", "Double_Chin", "High_Cheekbones", "Oval_Face", "Pointy_Nose", "Big_Nose",
                    "Rosy_Cheeks")),
    ("Facial hair", ("5_o_Clock_Shadow", "Goatee", "Mustache", "No_Beard", "Sideburns")),
    ("Eyes and brows", ("Arched_Eyebrows", "Bags_Under_Eyes", "Bushy_Eyebrows", "Narrow_Eyes")),
    ("Mouth and expression", ("Big_Lips", "Mouth_Slightly_Open", "Smiling")),
    ("Accessories and make-up", ("Eyeglasses", "Heavy_Makeup", "Wearing_Earrings", "Wearing_Hat",
                                 "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie")),
    ("Overall look", ("Attractive", "Blurry", "Male", "Pale_Skin", "Young")),
)

# title → {attribute: value}: 1 on, 0 off; every attribute not named keeps its own value (Edit) or is drawn like
# the data (Generate). Offered only when the model has every name a preset uses. The first three are the seed
# report's edits.
PRESETS: tuple[tuple[str, dict[str, float]], ...] = (
    ("All smiling", {"Smiling": 1.0}),
    ("Wearing eyeglasses", {"Eyeglasses": 1.0}),
    ("Men with moustache", {"Male": 1.0, "Mustache": 1.0, "No_Beard": 0.0}),
    ("Young blond women", {"Male": 0.0, "Young": 1.0, "Blond_Hair": 1.0}),
    ("Grey-haired men, no beard", {"Male": 1.0, "Gray_Hair": 1.0, "No_Beard": 1.0}),
)


def group_attributes(names: list[str]) -> list[tuple[str, list[str]]]:
    """The model's attribute names in ATTRIBUTE_GROUPS' order; the rest (another data set's) under "Other"."""
    present = set(names)
    out, placed = [], set()
    for title, members in ATTRIBUTE_GROUPS:
        found = [n for n in members if n in present]
        if found:
            out.append((title, found))
            placed.update(found)
    rest = [n for n in names if n not in placed]
    if rest:
        out.append(("Other" if out else "Attributes", rest))
    return out


def presets_for(names: list[str]) -> list[tuple[str, dict[str, float]]]:
    """The presets whose attributes the model has, all of them."""
    present = set(names)
    return [(title, values) for title, values in PRESETS if present.issuperset(values)]


def pretty(name: str) -> str:
    return name.replace("_", " ").replace("5 o Clock", "5 o'clock")
