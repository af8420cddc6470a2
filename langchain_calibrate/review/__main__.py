"""``python -m langchain_calibrate.review list|show|verdict|export ...``."""

import sys

from langchain_calibrate.review.cli import main

sys.exit(main())
