from gumshoe.cli import main

raise SystemExit(main())
