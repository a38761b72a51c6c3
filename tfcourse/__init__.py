"""tfcourse: the helper package of the CNN course (reusable Keras layers and utilities)."""

from tfcourse.config import PATHS, Profile, get_profile, seed_everything

__all__ = ["PATHS", "Profile", "get_profile", "seed_everything"]
__version__ = "0.1.0"
