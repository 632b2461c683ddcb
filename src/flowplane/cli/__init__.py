"""`kubectl flowplane`: the kubectl plugin for Workflows and WorkflowVersions.

`main` parses arguments and talks to the API server (`api`); everything it prints is
computed by pure modules with unit tests: `table` (the versions table), `status` (what a
workflow's status means for a command), `graphdiff` and `render` (mermaid / dot).
`lint` (also the console script `flowplane-lint`) checks YAML files offline, no cluster.
"""
