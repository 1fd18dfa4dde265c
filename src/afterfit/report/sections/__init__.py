"""Section builders: one module per step, each turning a result into a report Section."""
