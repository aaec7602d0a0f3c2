"""The policy model: Tailscale's validation rules and wording for a policy document.

Step in the pipeline: after compile (which yields the plain policy dict Tailscale's
POST /acl body decodes to), before diff and test. `validate.validate_policy` reports every
problem of a document at once; `selectors` and `ports` are reusable parsers the engine
imports. May import the lowest layer (`source`, `problems`, `suggest`) and nothing else.
"""
