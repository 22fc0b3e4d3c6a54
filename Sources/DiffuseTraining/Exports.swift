// Training: datasets with provenance, gradients, optimisers, the training loop (see the training issue).
@_exported import DiffuseCore
