import sys
from pathlib import Path

# Let test modules import shared helpers from one another (tests/ is not a package).
sys.path.insert(0, str(Path(__file__).parent))
