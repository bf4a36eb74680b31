"""The data plane: sources -> readers -> routing -> behavior-graph stores."""
