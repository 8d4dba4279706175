"""Dataset loaders with a download cache, content verification and an offline folder.

Layer 1: imports nothing else from ``mlsys_edu``. Set ``MLSYS_EDU_DATA`` to a folder of
offline copies (one sub-folder per dataset); ``MLSYS_EDU_CACHE`` moves the download cache.
"""

from mlsys_edu.data.cache import DataUnavailableError, cache_dir
from mlsys_edu.data.youtube_spam import (DataVerificationError, SpamSplits, load_youtube_spam,
                                         youtube_spam)

__all__ = ["DataUnavailableError", "DataVerificationError", "SpamSplits", "cache_dir",
           "load_youtube_spam", "youtube_spam"]
