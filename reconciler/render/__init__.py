"""render/ (step: report): pure renderers from plan data to text. No I/O, no click.

May import: `changes`, `planfile` (the JSON shape), `planner` (summary line),
stdlib. Each module renders the same data one way: `text` (Terraform-style, for a
terminal), `markdown` (pull-request comments), `json_` (stable, versioned), `github`
(workflow annotations). Computing happens before; printing only formats.
"""

from __future__ import annotations

FORMATS = ("text", "json", "markdown", "github")
