"""Platform services installed into the cluster: cert-manager (and, from others, ingress and gateways)."""
