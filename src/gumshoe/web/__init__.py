"""HTTP plumbing shared by every surface (the AWS API, /_gumshoe/*, the console)."""
