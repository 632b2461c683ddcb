"""Pure reconciliation: a family snapshot in, desired writes out. No Kubernetes I/O here."""
