"""``python -m litehrnet_runtime INPUT --pose2d FILE`` (the ``litehrnet-pose`` command)."""
import sys

from .cli import main

sys.exit(main())
