"""Activity implementations (thin adapters); the torch-stack ones live apart from the light ones."""
