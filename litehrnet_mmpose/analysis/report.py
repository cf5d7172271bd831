"""The benchmarks' output: a printed Markdown table, optionally saved, and the raw JSON."""
import json
from typing import Any, Dict, Optional


def save_report(table: str, data: Dict[str, Any], table_path: Optional[str] = None,
                json_path: Optional[str] = None) -> None:
    """Print ``table``; write it to ``table_path`` and ``data`` to ``json_path`` if given."""
    print(table)
    if table_path:
        with open(table_path, 'w') as f:
            f.write(table + '\n')
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(data, f, indent=2)
