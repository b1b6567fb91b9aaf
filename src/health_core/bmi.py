"""Body-mass index and its WHO class."""

from __future__ import annotations

# (lower bound inclusive, class) from the highest down; WHO adult BMI classification.
WHO_CLASSES: tuple[tuple[float, str], ...] = (
    (40.0, "obese_III"),
    (35.0, "obese_II"),
    (30.0, "obese_I"),
    (25.0, "overweight"),
    (18.5, "normal"),
)
UNDERWEIGHT = "underweight"
CLASS_NAMES: tuple[str, ...] = (UNDERWEIGHT,) + tuple(name for _, name in reversed(WHO_CLASSES))


def bmi(weight_kg: float, height_cm: float) -> float:
    """weight_kg / (height_cm / 100)²; raises ValueError for a non-positive height or weight."""
    if not height_cm > 0:
        raise ValueError(f"height_cm must be > 0 to compute a BMI; got {height_cm!r}")
    if not weight_kg > 0:
        raise ValueError(f"weight_kg must be > 0 to compute a BMI; got {weight_kg!r}")
    height_m = height_cm / 100.0
    return weight_kg / (height_m * height_m)


def who_class(value: float) -> str:
    """underweight < 18.5 <= normal < 25 <= overweight < 30 <= obese_I < 35 <= obese_II < 40 <= obese_III."""
    for lower, name in WHO_CLASSES:
        if value >= lower:
            return name
    return UNDERWEIGHT
