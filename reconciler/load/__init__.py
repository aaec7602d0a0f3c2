"""Load: the desired state from git and files, and the policy document it compiles to."""
