"""Policy texts the backend tests push: valid, failing its tests, invalid."""

from __future__ import annotations

HEADER = "// reconciler: commit=0123456789abcdef0123456789abcdef01234567 fingerprint=" + "ab" * 32

VALID = HEADER + """
// Managed by reconciler; edits in the console will be reported as drift.
{
	// People.
	"groups": {
		"group:eng": ["alice@example.com", "bob@example.com"],
		"group:sre": ["erin@example.com"],
	},
	"tagOwners": {
		"tag:prod":       ["group:sre"],
		"tag:db":         ["group:sre"],
		"tag:staging":    ["group:eng"],
		"tag:ci":         ["group:eng"],
		"tag:monitoring": ["group:sre"],
		"tag:exit":       ["group:sre"],
	},
	"acls": [
		{"action": "accept", "src": ["group:eng"], "dst": ["tag:staging:*"]},
		{"action": "accept", "src": ["group:sre"], "dst": ["tag:prod:*", "tag:db:5432"]},
	],
	"tests": [
		{"src": "erin@example.com", "accept": ["tag:prod:443"]},
		{"src": "alice@example.com", "accept": ["tag:staging:22"], "deny": ["tag:prod:443"]},
	],
}
"""

# Same rules; the second edit differs only in a comment and one ACL, so ETags differ.
VALID_2 = VALID.replace('"tag:db:5432"', '"tag:db:5432", "tag:monitoring:9090"')

# Alice is not allowed into prod, but this test says she is.
FAILING_TESTS = VALID.replace(
    '{"src": "erin@example.com", "accept": ["tag:prod:443"]},',
    '{"src": "alice@example.com", "accept": ["tag:prod:443"]},',
)

INVALID = """{
	"acls": [{"action": "deny", "src": ["*"], "dst": ["*:*"]}],
}
"""
